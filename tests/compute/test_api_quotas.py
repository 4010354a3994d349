from tests.compute.conftest import C, mv


def test_show_quota_set_defaults_match_nova(demo):
    resp = demo.get(f"{C}/os-quota-sets/{demo.project_id}/defaults", headers=mv("2.57"))
    body = resp.json()["quota_set"]
    assert body["instances"] == 10 and body["cores"] == 20 and body["ram"] == 51200
    assert "injected_files" not in body and "floating_ips" not in body


def test_show_quota_set_old_microversion_shows_network_quotas(demo):
    body = demo.get(f"{C}/os-quota-sets/{demo.project_id}", headers=mv("2.1")).json()["quota_set"]
    assert body["floating_ips"] == -1 and body["injected_files"] == 5 and body["id"] == demo.project_id


def test_update_quota_set_as_admin_then_delete_reverts(admin, demo):
    project = demo.project_id
    resp = admin.put(f"{C}/os-quota-sets/{project}", json={"quota_set": {"key_pairs": 7}}, headers=mv("2.57"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["quota_set"]["key_pairs"] == 7
    detail = demo.get(f"{C}/os-quota-sets/{project}/detail", headers=mv("2.57")).json()["quota_set"]
    assert detail["key_pairs"]["limit"] == 7 and "in_use" in detail["instances"]
    assert admin.delete(f"{C}/os-quota-sets/{project}").status_code == 202
    assert demo.get(f"{C}/os-quota-sets/{project}").json()["quota_set"]["key_pairs"] == 100


def test_update_quota_set_as_member_is_403(demo):
    resp = demo.put(f"{C}/os-quota-sets/{demo.project_id}", json={"quota_set": {"instances": 50}})
    assert resp.status_code == 403


def test_update_quota_set_bad_value_is_400(admin, demo):
    resp = admin.put(f"{C}/os-quota-sets/{demo.project_id}", json={"quota_set": {"instances": -5}})
    assert resp.status_code == 400


def test_show_limits_absolute_per_microversion(demo):
    old = demo.get(f"{C}/limits", headers=mv("2.1")).json()["limits"]["absolute"]
    new = demo.get(f"{C}/limits", headers=mv("2.57")).json()["limits"]["absolute"]
    assert old["maxPersonality"] == 5 and "maxSecurityGroups" in old
    assert "maxPersonality" not in new and "maxSecurityGroups" not in new
    assert new["maxTotalInstances"] == 10 and "totalInstancesUsed" in new


def test_list_availability_zones_as_member(demo):
    resp = demo.get(f"{C}/os-availability-zone")
    assert resp.status_code == 200 and "availabilityZoneInfo" in resp.json()


def test_list_availability_zones_detail_as_member_is_403(demo):
    assert demo.get(f"{C}/os-availability-zone/detail").status_code == 403
