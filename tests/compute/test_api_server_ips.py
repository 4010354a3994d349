"""GET /servers/{id}/ips and /ips/{network_label} (os-server-ips)."""

from __future__ import annotations

from .conftest import C, boot


def test_server_ips_list_and_show(demo, admin, servers, uniq):
    server = boot(demo, uniq("ips"))
    servers.append(server["id"])
    resp = demo.get(f"{C}/servers/{server['id']}/ips")
    assert resp.status_code == 200 and resp.json() == {"addresses": {}}
    assert demo.get(f"{C}/servers/{server['id']}/ips/private").status_code == 404
    other = admin.get(f"{C}/servers/{server['id']}/ips")
    assert other.status_code == 200
    assert demo.get(f"{C}/servers/6d9c3c5e-0d5e-4c8e-9c1b-6d6f0a1d2e3f/ips").status_code == 404
