# onestack — the two commands: `make run` (install + start the all-in-one cloud) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:8080
# Debian packages the real backends need (later services add theirs here).
APT_PACKAGES ?= python3-venv iproute2 iputils-ping lxc qemu-utils qemu-system-x86 genisoimage e2fsprogs busybox-static debootstrap dnsmasq nftables iptables conntrack udhcpc curl radvd dropbear-bin
PYTEST_ARGS ?=

.PHONY: install run test lint unit e2e conformance tempest-venv bench clean

install: $(VENV)/.installed
	@# Bytecode ahead of time (only stale files are rebuilt): with PYTHONDONTWRITEBYTECODE set, every start
	@# would otherwise compile onestack's sources again (~0.3 s of CPU).
	@$(BIN)/python -m compileall -q src >/dev/null

$(VENV)/.installed: pyproject.toml
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

run: install
	$(BIN)/onestack up --data-dir $(DATA_DIR) --listen $(LISTEN)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

test: install lint
	$(BIN)/pytest -n 2 $(PYTEST_ARGS) tests

# Tempest in a virtualenv of its own against a running onestack (`make run` elsewhere, or CLOUDS_YAML=...).
TEMPEST_VENV ?= .venv-tempest
CLOUDS_YAML ?= $(DATA_DIR)/clouds.yaml
CONFORMANCE_LIST ?= tests/conformance/interop-2020.06-compute.txt
CONFORMANCE_FILTER ?= identity
TEMPEST_WORKSPACE ?= build/tempest

tempest-venv: $(TEMPEST_VENV)/.installed

$(TEMPEST_VENV)/.installed:
	@test -x $(TEMPEST_VENV)/bin/python || $(PYTHON) -m venv $(TEMPEST_VENV)
	$(TEMPEST_VENV)/bin/pip install -q tempest
	@touch $@

conformance: install tempest-venv
	$(BIN)/python -m onestack.core.testing.tempest --clouds-yaml $(CLOUDS_YAML) --venv $(TEMPEST_VENV) \
	  --workspace $(TEMPEST_WORKSPACE) --list $(CONFORMANCE_LIST) --filter '$(CONFORMANCE_FILTER)' --run

bench: install
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/image.py
	$(BIN)/python bench/volume.py
	$(BIN)/python bench/compute.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
