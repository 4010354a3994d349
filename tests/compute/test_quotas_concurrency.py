"""Quotas hold exactly when many creates race for the last units."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from onestack.core.testing.client import login
from tests.compute.conftest import IMAGE, C, mv, wait_gone


def test_create_server_concurrently_never_exceeds_instances_quota(admin, http, passwords):
    name = f"quota-{uuid.uuid4().hex[:8]}"
    project = admin.post("/identity/v3/projects", json={"project": {"name": name, "domain_id": "default"}}).json()
    roles = {r["name"]: r["id"] for r in admin.get("/identity/v3/roles").json()["roles"]}
    admin.put(f"/identity/v3/projects/{project['project']['id']}/users/{admin.user_id}/roles/{roles['member']}")
    session = login(http, "admin", passwords["admin"], name)
    project_id = session.project_id
    assert admin.put(f"{C}/os-quota-sets/{project_id}", json={"quota_set": {"instances": 3}}).status_code == 200

    def create(i):
        return session.post(f"{C}/servers", headers=mv(), json={"server": {
            "name": f"{name}-{i}", "imageRef": IMAGE[0], "flavorRef": "c1", "networks": "none"}})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 3 + [403] * 5
    over = next(r for r in responses if r.status_code == 403).json()["forbidden"]["message"]
    assert "Quota exceeded for instances" in over
    ids = [r.json()["server"]["id"] for r in responses if r.status_code == 202]
    for server_id in ids:
        session.delete(f"{C}/servers/{server_id}")
    for server_id in ids:
        wait_gone(session, server_id)
    admin.delete(f"{C}/os-quota-sets/{project_id}")
