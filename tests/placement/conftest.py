from __future__ import annotations

import uuid

import pytest

P = "/placement"


def pv(version: str = "1.39") -> dict:
    return {"OpenStack-API-Version": f"placement {version}"}


@pytest.fixture
def provider(admin):
    """A fresh provider with VCPU 8 (ratio 2), MEMORY_MB 4096, DISK_GB 100; removed afterwards."""
    rp_uuid = str(uuid.uuid4())
    resp = admin.post(f"{P}/resource_providers", json={"name": f"rp-{rp_uuid[:8]}", "uuid": rp_uuid},
                      headers=pv())
    assert resp.status_code == 200, resp.text
    inv = {"VCPU": {"total": 8, "allocation_ratio": 2.0}, "MEMORY_MB": {"total": 4096},
           "DISK_GB": {"total": 100}}
    resp = admin.put(f"{P}/resource_providers/{rp_uuid}/inventories",
                     json={"resource_provider_generation": 0, "inventories": inv}, headers=pv())
    assert resp.status_code == 200, resp.text
    yield rp_uuid
    for consumer in admin.get(f"{P}/resource_providers/{rp_uuid}/allocations", headers=pv()).json()["allocations"]:
        admin.delete(f"{P}/allocations/{consumer}", headers=pv())
    admin.delete(f"{P}/resource_providers/{rp_uuid}", headers=pv())
