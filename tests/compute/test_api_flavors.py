from tests.compute.conftest import C, mv


def _create(admin, name, **extra):
    body = {"flavor": {"name": name, "ram": 256, "vcpus": 1, "disk": 1, **extra}}
    return admin.post(f"{C}/flavors", json=body, headers=mv("2.100"))


def test_list_flavors_default_flavors_exist(demo):
    resp = demo.get(f"{C}/flavors/detail", headers=mv("2.1"))
    assert resp.status_code == 200
    names = {f["name"] for f in resp.json()["flavors"]}
    assert {"m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge", "c1.tiny"} <= names
    tiny = next(f for f in resp.json()["flavors"] if f["name"] == "m1.tiny")
    assert tiny["swap"] == "" and "description" not in tiny and tiny["os-flavor-access:is_public"] is True


def test_list_flavors_limit_marker_gives_next_link(demo):
    first = demo.get(f"{C}/flavors?limit=2").json()
    assert len(first["flavors"]) == 2
    assert first["flavors_links"][0]["rel"] == "next"
    marker = first["flavors"][-1]["id"]
    second = demo.get(f"{C}/flavors?limit=2&marker={marker}").json()
    assert second["flavors"][0]["id"] not in {f["id"] for f in first["flavors"]}


def test_list_flavors_bad_marker_is_400(demo):
    assert demo.get(f"{C}/flavors?marker=nope").status_code == 400


def test_create_flavor_with_description_and_extra_specs(admin, uniq):
    name = uniq("fl")
    resp = _create(admin, name, description="small one", id=name)
    assert resp.status_code == 200, resp.text
    body = resp.json()["flavor"]
    assert body["description"] == "small one" and body["swap"] == 0 and body["extra_specs"] == {}
    resp = admin.post(f"{C}/flavors/{name}/os-extra_specs", json={"extra_specs": {"hw:cpu_policy": "shared"}})
    assert resp.json() == {"extra_specs": {"hw:cpu_policy": "shared"}}
    assert admin.get(f"{C}/flavors/{name}/os-extra_specs/hw:cpu_policy").json() == {"hw:cpu_policy": "shared"}
    shown = admin.get(f"{C}/flavors/{name}", headers=mv("2.61")).json()["flavor"]
    assert shown["extra_specs"] == {"hw:cpu_policy": "shared"}
    assert admin.delete(f"{C}/flavors/{name}/os-extra_specs/hw:cpu_policy").status_code == 202
    assert admin.get(f"{C}/flavors/{name}/os-extra_specs/hw:cpu_policy").status_code == 404
    resp = admin.put(f"{C}/flavors/{name}", json={"flavor": {"description": "changed"}}, headers=mv("2.55"))
    assert resp.json()["flavor"]["description"] == "changed"
    assert admin.delete(f"{C}/flavors/{name}").status_code == 202
    assert admin.get(f"{C}/flavors/{name}").status_code == 404


def test_bootstrap_flavors_have_a_disk_and_an_old_zero_disk_c1_tiny_gets_one(demo, cloud):
    """A member boots c1.tiny from an image (the README's demo flow): Nova's zero_disk_flavor rule refuses
    members a zero-disk flavor, so every bootstrap flavor has a disk, and an earlier data dir's c1.tiny (no
    disk) gets 1 GB at the next bootstrap."""
    from onestack.compute.model import Flavor
    from onestack.compute.service.flavors import ensure_default_flavors

    flavors = demo.get(f"{C}/flavors/detail", headers=mv("2.1")).json()["flavors"]
    assert [f["name"] for f in flavors if f["disk"] == 0] == []
    with cloud.uow(write=True) as uow:
        uow.session.get(Flavor, "c1").root_gb = 0
    with cloud.uow(write=True) as uow:
        ensure_default_flavors(uow)
    assert demo.get(f"{C}/flavors/c1", headers=mv("2.1")).json()["flavor"]["disk"] == 1


def test_create_flavor_duplicate_name_is_409(admin, uniq):
    name = uniq("fl")
    assert _create(admin, name).status_code == 200
    resp = _create(admin, name)
    assert resp.status_code == 409 and "conflictingRequest" in resp.json()


def test_create_flavor_bad_ram_is_400(admin, uniq):
    resp = _create(admin, uniq("fl"), ram=0)
    assert resp.status_code == 400 and resp.json()["badRequest"]["code"] == 400


def test_create_flavor_as_member_is_403(demo, uniq):
    resp = _create(demo, uniq("fl"))
    assert resp.status_code == 403 and "forbidden" in resp.json()


def test_add_flavor_access_private_flavor_visible_to_project(admin, demo, uniq):
    name = uniq("priv")
    flavor = _create(admin, name, **{"os-flavor-access:is_public": False}).json()["flavor"]
    assert demo.get(f"{C}/flavors/{flavor['id']}").status_code == 404
    resp = admin.post(f"{C}/flavors/{flavor['id']}/action",
                      json={"addTenantAccess": {"tenant": demo.project_id}})
    assert resp.json()["flavor_access"] == [{"flavor_id": flavor["id"], "tenant_id": demo.project_id}]
    assert demo.get(f"{C}/flavors/{flavor['id']}").status_code == 200
    assert name in {f["name"] for f in demo.get(f"{C}/flavors").json()["flavors"]}
    again = admin.post(f"{C}/flavors/{flavor['id']}/action", json={"addTenantAccess": {"tenant": demo.project_id}})
    assert again.status_code == 409
    admin.post(f"{C}/flavors/{flavor['id']}/action", json={"removeTenantAccess": {"tenant": demo.project_id}})
    assert demo.get(f"{C}/flavors/{flavor['id']}").status_code == 404
    admin.delete(f"{C}/flavors/{flavor['id']}")


def test_add_flavor_access_public_flavor_is_409(admin):
    resp = admin.post(f"{C}/flavors/1/action", json={"addTenantAccess": {"tenant": "x"}})
    assert resp.status_code == 409
