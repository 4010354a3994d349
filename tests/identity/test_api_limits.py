"""Unified limits: /v3/registered_limits, /v3/limits and /v3/limits/model."""

import pytest

from .conftest import V3, uid


@pytest.fixture
def service_id(admin):
    return admin.get(f"{V3}/services", params={"type": "identity"}).json()["services"][0]["id"]


@pytest.fixture
def registered(admin, service_id):
    """A registered limit with a unique resource name, deleted afterwards (with its limits)."""
    resource = uid("res")
    resp = admin.post(f"{V3}/registered_limits", json={"registered_limits": [{
        "service_id": service_id, "region_id": "RegionOne", "resource_name": resource, "default_limit": 10,
        "description": "d"}]})
    assert resp.status_code == 201, resp.text
    row = resp.json()["registered_limits"][0]
    yield row
    for limit in admin.get(f"{V3}/limits", params={"resource_name": resource}).json()["limits"]:
        admin.delete(f"{V3}/limits/{limit['id']}")
    admin.delete(f"{V3}/registered_limits/{row['id']}")


def _create_limit(admin, registered: dict, project_id: str, value: int = 5):
    return admin.post(f"{V3}/limits", json={"limits": [{
        "project_id": project_id, "service_id": registered["service_id"], "region_id": "RegionOne",
        "resource_name": registered["resource_name"], "resource_limit": value}]})


def test_create_registered_limit(registered, admin):
    assert set(registered) >= {"id", "service_id", "region_id", "resource_name", "default_limit", "description",
                               "links"}
    assert registered["default_limit"] == 10
    assert registered["links"]["self"].endswith(f"/v3/registered_limits/{registered['id']}")
    shown = admin.get(f"{V3}/registered_limits/{registered['id']}")
    assert shown.status_code == 200 and shown.json()["registered_limit"]["resource_name"] == registered[
        "resource_name"]


def test_create_registered_limit_duplicate_is_409(registered, admin):
    resp = admin.post(f"{V3}/registered_limits", json={"registered_limits": [{
        "service_id": registered["service_id"], "region_id": "RegionOne",
        "resource_name": registered["resource_name"], "default_limit": 3}]})
    assert resp.status_code == 409


def test_create_registered_limit_missing_field_is_400_naming_it(admin, service_id):
    resp = admin.post(f"{V3}/registered_limits", json={"registered_limits": [{
        "service_id": service_id, "resource_name": uid("res")}]})
    assert resp.status_code == 400
    assert "default_limit" in resp.json()["error"]["message"]


def test_create_registered_limit_unknown_service_is_4xx(admin):
    resp = admin.post(f"{V3}/registered_limits", json={"registered_limits": [{
        "service_id": uid(), "resource_name": uid("res"), "default_limit": 1}]})
    assert resp.status_code in (400, 404)


def test_list_registered_limits_filters(registered, admin, demo):
    for session in (admin, demo):
        resp = session.get(f"{V3}/registered_limits", params={"resource_name": registered["resource_name"]})
        assert resp.status_code == 200
        assert [r["id"] for r in resp.json()["registered_limits"]] == [registered["id"]]
    resp = admin.get(f"{V3}/registered_limits", params={"service_id": registered["service_id"]})
    assert registered["id"] in {r["id"] for r in resp.json()["registered_limits"]}


def test_update_registered_limit(registered, admin):
    resp = admin.patch(f"{V3}/registered_limits/{registered['id']}",
                       json={"registered_limit": {"default_limit": 20, "description": "new"}})
    assert resp.status_code == 200
    assert resp.json()["registered_limit"]["default_limit"] == 20


def test_delete_registered_limit_with_limits_is_403(make, registered, admin):
    project = make.project()
    assert _create_limit(admin, registered, project["id"]).status_code == 201
    assert admin.delete(f"{V3}/registered_limits/{registered['id']}").status_code == 403


def test_create_limit_and_effective_value(make, registered, admin, cloud):
    project = make.project()
    identity = cloud.identity
    assert identity.effective_limit("identity", registered["resource_name"], project["id"]) == 10
    resp = _create_limit(admin, registered, project["id"], 7)
    assert resp.status_code == 201, resp.text
    limit = resp.json()["limits"][0]
    assert (limit["project_id"], limit["resource_limit"]) == (project["id"], 7)
    assert limit["links"]["self"].endswith(f"/v3/limits/{limit['id']}")
    assert identity.effective_limit("identity", registered["resource_name"], project["id"]) == 7
    assert admin.get(f"{V3}/limits/{limit['id']}").json()["limit"]["resource_limit"] == 7
    resp = admin.patch(f"{V3}/limits/{limit['id']}", json={"limit": {"resource_limit": 9}})
    assert resp.status_code == 200 and resp.json()["limit"]["resource_limit"] == 9
    assert admin.delete(f"{V3}/limits/{limit['id']}").status_code == 204
    assert admin.get(f"{V3}/limits/{limit['id']}").status_code == 404
    assert identity.effective_limit("identity", registered["resource_name"], project["id"]) == 10


def test_effective_limits_of_several_resources_agree_with_effective_limit(make, registered, admin, cloud):
    """The batched read (a service's quota check asks for several at once) gives what one-by-one does."""
    project = make.project()
    identity = cloud.identity
    name = registered["resource_name"]

    def both():
        many = identity.effective_limits("identity", [name, "nothing-registered"], project["id"])
        assert many == {name: identity.effective_limit("identity", name, project["id"]),
                        "nothing-registered": identity.effective_limit("identity", "nothing-registered", project["id"])}
        return many[name]

    assert both() == 10
    limit = _create_limit(admin, registered, project["id"], 7).json()["limits"][0]
    assert both() == 7
    assert identity.effective_limits("identity", [name], "no-such-project") == {name: 10}
    assert admin.delete(f"{V3}/limits/{limit['id']}").status_code == 204
    assert both() == 10
    assert identity.effective_limits("no-such-service", [name], project["id"]) == {name: None}


def test_create_limit_duplicate_is_409(make, registered, admin):
    project = make.project()
    assert _create_limit(admin, registered, project["id"]).status_code == 201
    assert _create_limit(admin, registered, project["id"]).status_code == 409


def test_create_limit_without_registered_limit_is_403(make, admin, service_id):
    project = make.project()
    resp = admin.post(f"{V3}/limits", json={"limits": [{
        "project_id": project["id"], "service_id": service_id, "resource_name": uid("unregistered"),
        "resource_limit": 1}]})
    assert resp.status_code == 403


def test_create_limit_below_minus_one_is_400(make, registered, admin):
    project = make.project()
    resp = _create_limit(admin, registered, project["id"], -2)
    assert resp.status_code == 400
    assert "resource_limit" in resp.json()["error"]["message"]


def test_list_limits_member_sees_only_own_project(make, registered, admin):
    project, _user, session = make.member()
    other = make.project()
    mine = _create_limit(admin, registered, project["id"]).json()["limits"][0]
    theirs = _create_limit(admin, registered, other["id"]).json()["limits"][0]
    params = {"resource_name": registered["resource_name"]}
    assert {x["id"] for x in admin.get(f"{V3}/limits", params=params).json()["limits"]} == {mine["id"], theirs["id"]}
    assert [x["id"] for x in session.get(f"{V3}/limits", params=params).json()["limits"]] == [mine["id"]]
    assert session.get(f"{V3}/limits/{mine['id']}").status_code == 200
    assert session.get(f"{V3}/limits/{theirs['id']}").status_code == 403
    assert session.patch(f"{V3}/limits/{mine['id']}", json={"limit": {"resource_limit": 99}}).status_code == 403
    assert session.post(f"{V3}/registered_limits", json={"registered_limits": [{
        "service_id": registered["service_id"], "resource_name": uid("x"), "default_limit": 1}]}).status_code == 403


def test_show_limit_model(demo):
    resp = demo.get(f"{V3}/limits/model")
    assert resp.status_code == 200
    assert resp.json()["model"]["name"] == "flat"
    assert resp.json()["model"]["description"]


def test_create_registered_limit_without_region_duplicate_is_409(admin, service_id, cloud):
    resource = uid("res")
    body = {"registered_limits": [{"service_id": service_id, "resource_name": resource, "default_limit": 4}]}
    resp = admin.post(f"{V3}/registered_limits", json=body)
    assert resp.status_code == 201
    try:
        assert admin.post(f"{V3}/registered_limits", json=body).status_code == 409
        # A region-less registered limit applies in every region.
        assert cloud.identity.effective_limit("identity", resource, "no-such-project") == 4
    finally:
        admin.delete(f"{V3}/registered_limits/{resp.json()['registered_limits'][0]['id']}")


def test_update_registered_limit_to_duplicate_is_409(registered, admin):
    other = admin.post(f"{V3}/registered_limits", json={"registered_limits": [{
        "service_id": registered["service_id"], "region_id": "RegionOne", "resource_name": uid("res"),
        "default_limit": 1}]}).json()["registered_limits"][0]
    try:
        resp = admin.patch(f"{V3}/registered_limits/{other['id']}",
                           json={"registered_limit": {"resource_name": registered["resource_name"]}})
        assert resp.status_code == 409
    finally:
        admin.delete(f"{V3}/registered_limits/{other['id']}")


def test_list_limits_unscoped_or_member_never_sees_domain_limits(make, registered, admin):
    domain = make.domain()
    resp = admin.post(f"{V3}/limits", json={"limits": [{
        "domain_id": domain["id"], "service_id": registered["service_id"], "region_id": "RegionOne",
        "resource_name": registered["resource_name"], "resource_limit": 3}]})
    assert resp.status_code == 201, resp.text
    domain_limit = resp.json()["limits"][0]
    assert domain_limit["domain_id"] == domain["id"] and domain_limit["project_id"] is None
    _project, user, member = make.member()
    unscoped = make.login(user)
    params = {"resource_name": registered["resource_name"]}
    assert [x["id"] for x in admin.get(f"{V3}/limits", params=params).json()["limits"]] == [domain_limit["id"]]
    for session in (member, unscoped):
        resp = session.get(f"{V3}/limits", params=params)
        assert resp.status_code == 200
        assert resp.json()["limits"] == []
        assert session.get(f"{V3}/limits/{domain_limit['id']}").status_code == 403
