"""Networking test helpers: fresh projects with a member, unique names, small API wrappers."""

from __future__ import annotations

import uuid

import pytest

from onestack.core.testing.client import login

N = "/network/v2.0"


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def member(http, admin):
    """A logged-in member of a brand-new project (quotas and isolation tests change nothing shared)."""
    return new_member(http, admin)


@pytest.fixture
def other_member(http, admin):
    return new_member(http, admin)


def new_member(http, admin):
    name = uid("proj")
    project = admin.post("/identity/v3/projects", json={"project": {"name": name, "domain_id": "default"}}).json()
    user = admin.post("/identity/v3/users", json={"user": {"name": name, "password": "secret-pw-1",
                                                           "domain_id": "default"}}).json()
    roles = admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"]
    resp = admin.put(f"/identity/v3/projects/{project['project']['id']}/users/{user['user']['id']}/roles/"
                     f"{roles[0]['id']}")
    assert resp.status_code in (200, 204), resp.text
    return login(http, name, "secret-pw-1", name)


def create(session, kind: str, body: dict, status: int = 201) -> dict:
    key = kind[:-1] if not kind.endswith("ies") else kind[:-3] + "y"
    key = {"security-groups": "security_group", "security-group-rules": "security_group_rule"}.get(kind, key)
    resp = session.post(f"{N}/{kind}", json={key: body})
    assert resp.status_code == status, resp.text
    return resp.json()[key] if status == 201 else resp.json()


def make_net(session, cidr: str = "10.10.0.0/24", pool: tuple[str, str] | None = None, **net) -> tuple[dict, dict]:
    """A network with one IPv4 subnet.  ``pool`` (first, last) narrows the allocation pool: the DHCP port
    (and any port without fixed_ips) takes a random address from the pool, so a test asking for fixed
    addresses must ask for ones outside it."""
    network = create(session, "networks", {"name": uid("net"), **net})
    body = {"network_id": network["id"], "cidr": cidr, "ip_version": 4}
    if pool is not None:
        body["allocation_pools"] = [{"start": pool[0], "end": pool[1]}]
    subnet = create(session, "subnets", body)
    return network, subnet


def error_type(resp) -> str:
    return resp.json()["NeutronError"]["type"]
