"""Volume types, extra specs, private type access and default types."""

from .conftest import LATEST, V3, uid


def test_create_type_with_extra_specs(admin):
    name = uid("type")
    resp = admin.post(f"{V3}/types", json={"volume_type": {"name": name, "description": "fast",
                                                          "extra_specs": {"volume_backend_name": "file"}}})
    assert resp.status_code == 200, resp.text
    vtype = resp.json()["volume_type"]
    assert vtype["extra_specs"] == {"volume_backend_name": "file"} and vtype["is_public"] is True
    tid = vtype["id"]
    assert admin.get(f"{V3}/types/{tid}").json()["volume_type"]["name"] == name
    assert admin.post(f"{V3}/types/{tid}/extra_specs", json={"extra_specs": {"a": "1"}}).json() == {
        "extra_specs": {"a": "1"}}
    assert admin.get(f"{V3}/types/{tid}/extra_specs").json()["extra_specs"] == {"volume_backend_name": "file",
                                                                                "a": "1"}
    assert admin.put(f"{V3}/types/{tid}/extra_specs/a", json={"a": "2"}).json() == {"a": "2"}
    assert admin.get(f"{V3}/types/{tid}/extra_specs/a").json() == {"a": "2"}
    assert admin.delete(f"{V3}/types/{tid}/extra_specs/a").status_code == 202
    assert admin.get(f"{V3}/types/{tid}/extra_specs/a").status_code == 404
    resp = admin.put(f"{V3}/types/{tid}", json={"volume_type": {"description": "slow"}})
    assert resp.json()["volume_type"]["description"] == "slow"
    assert admin.delete(f"{V3}/types/{tid}").status_code == 202
    assert admin.get(f"{V3}/types/{tid}").status_code == 404


def test_create_type_duplicate_is_409(admin):
    name = uid("type")
    admin.post(f"{V3}/types", json={"volume_type": {"name": name}})
    assert admin.post(f"{V3}/types", json={"volume_type": {"name": name}}).status_code == 409


def test_create_type_by_member_is_403(demo):
    resp = demo.post(f"{V3}/types", json={"volume_type": {"name": uid("type")}})
    assert resp.status_code == 403
    assert resp.json()["forbidden"]["code"] == 403


def test_create_type_without_name_is_400(admin):
    assert admin.post(f"{V3}/types", json={"volume_type": {}}).status_code == 400


def test_show_default_type(admin):
    assert admin.get(f"{V3}/types/default").json()["volume_type"]["name"] == "__DEFAULT__"


def test_delete_default_type_is_400(admin):
    tid = admin.get(f"{V3}/types/default").json()["volume_type"]["id"]
    assert admin.delete(f"{V3}/types/{tid}").status_code == 400


def test_private_type_access(admin, demo, vols):
    name = uid("private")
    tid = admin.post(f"{V3}/types", json={"volume_type": {"name": name, "os-volume-type-access:is_public": False}}
                     ).json()["volume_type"]["id"]
    assert name not in [t["name"] for t in demo.get(f"{V3}/types").json()["volume_types"]]
    assert demo.get(f"{V3}/types/{tid}").status_code == 404
    assert demo.post(f"{V3}/volumes", json={"volume": {"size": 1, "volume_type": name}}).status_code == 404
    body = {"addProjectAccess": {"project": demo.project_id}}
    assert admin.post(f"{V3}/types/{tid}/action", json=body).status_code == 202
    assert admin.post(f"{V3}/types/{tid}/action", json=body).status_code == 409
    access = admin.get(f"{V3}/types/{tid}/os-volume-type-access").json()["volume_type_access"]
    assert access == [{"volume_type_id": tid, "project_id": demo.project_id}]
    assert name in [t["name"] for t in demo.get(f"{V3}/types").json()["volume_types"]]
    vol = vols.create(session=demo, volume_type=name)
    assert vol["volume_type"] == name
    assert admin.post(f"{V3}/types/{tid}/action", json={"removeProjectAccess": {"project": demo.project_id}}
                      ).status_code == 202
    assert demo.get(f"{V3}/types/{tid}").status_code == 404


def test_set_default_type_for_project(admin, vols):
    name = uid("deftype")
    admin.post(f"{V3}/types", json={"volume_type": {"name": name}})
    project = admin.project_id
    resp = admin.put(f"{V3}/default-types/{project}", json={"default_type": {"volume_type": name}}, headers=LATEST)
    assert resp.status_code == 200, resp.text
    try:
        assert vols.create()["volume_type"] == name
        assert admin.get(f"{V3}/default-types/{project}", headers=LATEST).json()["default_type"]["project_id"] == \
            project
    finally:
        assert admin.delete(f"{V3}/default-types/{project}", headers=LATEST).status_code == 204
