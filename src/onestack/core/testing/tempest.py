"""Tempest against a running onestack: workspace + ``tempest.conf`` generator and runner.

Tempest lives in a virtualenv of its own (``make tempest-venv``: ``.venv-tempest``).  This module
writes a Tempest workspace (``.stestr.conf``, ``etc/tempest.conf``) that points at the admin
credentials of a generated ``clouds.yaml`` and runs a selection of test ids with
``tempest run --load-list``::

    python -m onestack.core.testing.tempest --clouds-yaml data/clouds.yaml \\
        --list tests/conformance/interop-2020.06-compute.txt --filter identity --run
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

# catalog service type -> Tempest's [service_available] option
SERVICE_AVAILABLE = {
    "compute": "nova",
    "image": "glance",
    "network": "neutron",
    "volumev3": "cinder",
    "block-storage": "cinder",
    "object-store": "swift",
}


@dataclass(frozen=True)
class Workspace:
    path: Path
    config: Path
    load_list: Path | None
    venv: Path
    missing: tuple[str, ...] = ()  # listed tests this Tempest no longer has (write_workspace(allow_missing=True))

    @property
    def tempest(self) -> str:
        return str(self.venv / "bin" / "tempest")


def catalog_types(auth: dict) -> set[str]:
    """Authenticate like the cloud's admin and return the service types of the catalog."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": auth.get("user_domain_name", "Default")},
        "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"],
                              "domain": {"name": auth.get("project_domain_name", "Default")}}}}}
    req = urllib.request.Request(auth["auth_url"].rstrip("/") + "/v3/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        token = json.load(resp)["token"]
    return {entry["type"] for entry in token.get("catalog", [])}


def tempest_conf(cloud: dict, services: set[str], log_dir: Path, lock_dir: Path) -> configparser.ConfigParser:
    auth = cloud["auth"]
    region = cloud.get("region_name", "RegionOne")
    conf = configparser.ConfigParser(interpolation=None)
    conf["DEFAULT"] = {"log_dir": str(log_dir), "log_file": "tempest.log", "use_stderr": "false"}
    conf["oslo_concurrency"] = {"lock_path": str(lock_dir)}
    conf["auth"] = {
        "use_dynamic_credentials": "true",
        "create_isolated_networks": "false",
        "admin_username": auth["username"],
        "admin_password": auth["password"],
        "admin_project_name": auth["project_name"],
        "admin_domain_name": auth.get("user_domain_name", "Default"),
        "admin_user_domain_name": auth.get("user_domain_name", "Default"),
        "admin_project_domain_name": auth.get("project_domain_name", "Default"),
    }
    conf["identity"] = {
        "uri_v3": auth["auth_url"].rstrip("/") + "/v3",
        "auth_version": "v3",
        "region": region,
        "v3_endpoint_type": cloud.get("interface", "public"),
        "default_domain_id": "default",
    }
    conf["identity-feature-enabled"] = {
        "api_v2": "false",
        "api_v2_admin": "false",
        "api_v3": "true",
        "application_credentials": "true",
        "access_rules": "false",
        "trust": "false",
        "domain_specific_drivers": "false",
        "security_compliance": "false",
        "project_tags": "true",
    }
    available = {option: "false" for option in (*SERVICE_AVAILABLE.values(), "horizon")}
    for type_ in services:
        if type_ in SERVICE_AVAILABLE:
            available[SERVICE_AVAILABLE[type_]] = "true"
    conf["service_available"] = available
    conf["validation"] = {"run_validation": "false"}
    return conf


def write_workspace(clouds_yaml: Path, workspace: Path, venv: Path, cloud_name: str = "onestack",
                    services: set[str] | None = None, test_list: Path | None = None,
                    filter_: str | None = None, allow_missing: bool = False,
                    options: dict[str, dict[str, str]] | None = None) -> Workspace:
    """``options``: tempest.conf settings on top of the generated ones, set before the tests are listed (some
    change test ids: with run_validation on, a test may be tagged ``slow``)."""
    cloud = yaml.safe_load(Path(clouds_yaml).read_text())["clouds"][cloud_name]
    if services is None:
        services = catalog_types(cloud["auth"])
    workspace = workspace.resolve()
    for sub in ("etc", "logs", "tempest_lock"):
        (workspace / sub).mkdir(parents=True, exist_ok=True)
    package = _tempest_package_dir(venv)
    (workspace / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={package}/test_discover\ntop_dir={package}\ngroup_regex=([^\\.]*\\.)*\n")
    conf = tempest_conf(cloud, services, workspace / "logs", workspace / "tempest_lock")
    _update(conf, options or {})
    config_path = workspace / "etc" / "tempest.conf"
    with config_path.open("w") as fh:
        conf.write(fh)
    config_path.chmod(0o600)
    ws = Workspace(workspace, config_path, None, venv)
    if not (workspace / ".stestr").is_dir():
        subprocess.run([str(venv / "bin" / "stestr"), "init"], cwd=workspace, capture_output=True, check=True)
    if test_list is None:
        return ws
    wanted = [line.strip() for line in Path(test_list).read_text().splitlines()
              if line.strip() and not line.startswith("#") and (not filter_ or filter_ in line)]
    # Guideline lists name tests without Tempest's "[id-...,tags]" suffix; --load-list needs full ids.
    full = {}
    for test_id in _list_tests(ws, filter_):
        full.setdefault(test_id.split("[", 1)[0], test_id)
    missing = [t for t in wanted if t not in full]
    if missing and not allow_missing:
        raise LookupError(f"this Tempest has no tests named {missing}")
    load_list = workspace / "load-list.txt"
    load_list.write_text("\n".join(full[t] for t in wanted if t in full) + "\n")
    return Workspace(workspace, config_path, load_list, venv, tuple(missing))


def _update(conf: configparser.ConfigParser, sections: dict[str, dict[str, str]]) -> None:
    for section, values in sections.items():
        if not conf.has_section(section):
            conf.add_section(section)
        for key, value in values.items():
            conf.set(section, key, value)


def _list_tests(ws: Workspace, regex: str | None) -> list[str]:
    cmd = [ws.tempest, "run", "--config-file", str(ws.config), "--list-tests"]
    if regex:
        cmd += ["--regex", regex]
    proc = subprocess.run(cmd, cwd=ws.path, env=_env(ws), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"tempest run --list-tests failed:\n{proc.stderr}\n{proc.stdout}")
    return [line.strip() for line in proc.stdout.splitlines() if line.startswith("tempest.")]


def _env(ws: Workspace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["TEMPEST_CONFIG_DIR"] = str(ws.config.parent)
    env["TEMPEST_CONFIG"] = ws.config.name
    return env


def _tempest_package_dir(venv: Path) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import os, tempest; print(os.path.dirname("
                          "tempest.__file__))"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run(ws: Workspace, concurrency: int = 2, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [ws.tempest, "run", "--config-file", str(ws.config), "--concurrency", str(concurrency)]
    if ws.load_list is not None:
        cmd += ["--load-list", str(ws.load_list)]
    return subprocess.run(cmd, cwd=ws.path, env=_env(ws), capture_output=True, text=True, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clouds-yaml", default="data/clouds.yaml")
    parser.add_argument("--cloud", default="onestack")
    parser.add_argument("--workspace", default="build/tempest")
    parser.add_argument("--venv", default=".venv-tempest")
    parser.add_argument("--list", dest="test_list", help="a file of test ids (tempest run --load-list)")
    parser.add_argument("--filter", help="keep only ids containing this string, e.g. 'identity'")
    parser.add_argument("--services", help="catalog types to mark available (default: the running cloud's catalog)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--run", action="store_true", help="run tempest after writing the workspace")
    args = parser.parse_args(argv)
    services = set(args.services.split(",")) if args.services else None
    ws = write_workspace(Path(args.clouds_yaml), Path(args.workspace), Path(args.venv).resolve(), args.cloud,
                         services, Path(args.test_list) if args.test_list else None, args.filter)
    print(f"tempest workspace: {ws.path} (config {ws.config})", file=sys.stderr)
    if not args.run:
        return 0
    proc = run(ws, args.concurrency)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
