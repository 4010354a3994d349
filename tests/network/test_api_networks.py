from __future__ import annotations

from onestack.network.extensions import EXTENSIONS

from .conftest import N, create, error_type, make_net, uid


def test_show_versions_lists_v2(http):
    resp = http.get("/network/")
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["id"] == "v2.0"


def test_list_extensions_lists_exactly_what_is_implemented(admin):
    aliases = {e["alias"] for e in admin.get(f"{N}/extensions").json()["extensions"]}
    assert aliases == {e["alias"] for e in EXTENSIONS}
    for needed in ("router", "ext-gw-mode", "extraroute", "security-group", "port-security", "binding",
                   "external-net", "provider", "quotas", "quota_details", "standard-attr-tag", "subnet_allocation",
                   "network-ip-availability", "fip-port-details", "pagination", "sorting", "fields"):
        assert needed in aliases
    assert admin.get(f"{N}/extensions/router").json()["extension"]["alias"] == "router"
    assert admin.get(f"{N}/extensions/nope").status_code == 404


def test_create_network_defaults(demo):
    net = create(demo, "networks", {"name": uid()})
    assert net["status"] == "ACTIVE" and net["admin_state_up"] and not net["shared"]
    assert net["router:external"] is False and net["mtu"] == 1450 and net["revision_number"] == 1
    assert net["project_id"] == demo.project_id == net["tenant_id"]
    assert "provider:network_type" not in net  # admin-only attribute
    assert demo.delete(f"{N}/networks/{net['id']}").status_code == 204
    resp = demo.get(f"{N}/networks/{net['id']}")
    assert resp.status_code == 404 and error_type(resp) == "NetworkNotFound"


def test_create_network_provider_attributes_as_admin(admin):
    flat = create(admin, "networks", {"name": uid(), "provider:network_type": "flat",
                                      "provider:physical_network": uid("phys")})
    assert flat["provider:network_type"] == "flat" and flat["provider:segmentation_id"] is None
    assert flat["mtu"] == 1500
    vx = create(admin, "networks", {"name": uid(), "provider:network_type": "vxlan"})
    assert 1 <= vx["provider:segmentation_id"] <= 1000
    dup = admin.post(f"{N}/networks", json={"network": {"provider:network_type": "vxlan",
                                                        "provider:segmentation_id": vx["provider:segmentation_id"]}})
    assert dup.status_code == 409 and error_type(dup) == "TunnelIdInUse"
    local = create(admin, "networks", {"name": uid(), "provider:network_type": "local"})
    assert local["provider:network_type"] == "local"
    bad = admin.post(f"{N}/networks", json={"network": {"provider:network_type": "vlan"}})
    assert bad.status_code == 400 and error_type(bad) == "InvalidInput"
    for net in (flat, vx, local):
        admin.delete(f"{N}/networks/{net['id']}")


def test_create_network_privileged_attributes_forbidden_for_member(demo):
    for body in ({"shared": True}, {"router:external": True}, {"provider:network_type": "vxlan"}):
        resp = demo.post(f"{N}/networks", json={"network": body})
        assert resp.status_code == 403, body
        assert error_type(resp) == "PolicyNotAuthorized"


def test_create_network_bad_input_is_400(demo):
    assert demo.post(f"{N}/networks", json={"network": {"name": 5}}).status_code == 400
    assert demo.post(f"{N}/networks", json={"network": {"bogus": 1}}).status_code == 400
    assert demo.post(f"{N}/networks", json={"nothing": {}}).status_code == 400
    resp = demo.post(f"{N}/networks", content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "NeutronError" in resp.json()


def test_list_networks_member_never_sees_other_private_networks(member, other_member, admin):
    mine, _ = make_net(member)
    theirs, _ = make_net(other_member)
    shared = create(admin, "networks", {"name": uid(), "shared": True})
    ids = {n["id"] for n in member.get(f"{N}/networks").json()["networks"]}
    assert mine["id"] in ids and shared["id"] in ids and theirs["id"] not in ids
    assert member.get(f"{N}/networks/{theirs['id']}").status_code == 404
    assert member.delete(f"{N}/networks/{theirs['id']}").status_code == 404
    subnets = {s["network_id"] for s in member.get(f"{N}/subnets").json()["subnets"]}
    assert theirs["id"] not in subnets
    admin.delete(f"{N}/networks/{shared['id']}")


def test_update_network_with_if_match_checks_revision(demo):
    net = create(demo, "networks", {"name": uid()})
    url = f"{N}/networks/{net['id']}"
    resp = demo.put(url, json={"network": {"name": "renamed"}}, headers={"If-Match": "revision_number=1"})
    assert resp.status_code == 200 and resp.json()["network"]["revision_number"] == 2
    stale = demo.put(url, json={"network": {"name": "again"}}, headers={"If-Match": "revision_number=1"})
    assert stale.status_code == 412 and error_type(stale) == "RevisionNumberConstraintFailed"
    assert demo.delete(url, headers={"If-Match": "revision_number=1"}).status_code == 412
    assert demo.delete(url, headers={"If-Match": "revision_number=2"}).status_code == 204


def test_list_networks_filters_fields_sorting_pagination(member):
    tag = uid("tag")
    nets = [create(member, "networks", {"name": f"{tag}-{i}"}) for i in range(5)]
    for n in nets[:2]:
        assert member.put(f"{N}/networks/{n['id']}/tags/{tag}").status_code == 201
    by_name = member.get(f"{N}/networks", params={"name": f"{tag}-3"}).json()["networks"]
    assert [n["id"] for n in by_name] == [nets[3]["id"]]
    tagged = member.get(f"{N}/networks", params={"tags": tag}).json()["networks"]
    assert {n["id"] for n in tagged} == {nets[0]["id"], nets[1]["id"]}
    fields = member.get(f"{N}/networks", params={"fields": ["id", "name"]}).json()["networks"]
    assert all(set(n) == {"id", "name"} for n in fields)
    desc = member.get(f"{N}/networks", params={"sort_key": "name", "sort_dir": "desc"}).json()["networks"]
    assert [n["name"] for n in desc] == sorted((n["name"] for n in desc), reverse=True)
    page = member.get(f"{N}/networks", params={"limit": 2, "sort_key": "name", "sort_dir": "asc"}).json()
    assert len(page["networks"]) == 2
    link = next(x["href"] for x in page["networks_links"] if x["rel"] == "next")
    rest = member.get(link.replace("http://127.0.0.1:8080", "")).json()["networks"]
    assert rest[0]["name"] > page["networks"][-1]["name"]
    bad = member.get(f"{N}/networks", params={"bogus": "1"})
    assert bad.status_code == 400 and error_type(bad) == "HTTPBadRequest"
    assert member.get(f"{N}/networks", params={"sort_key": "name", "sort_dir": "up"}).status_code == 400


def test_update_tags_replace_check_delete(demo):
    net = create(demo, "networks", {"name": uid()})
    base = f"{N}/networks/{net['id']}/tags"
    assert demo.put(base, json={"tags": ["b", "a"]}).json() == {"tags": ["a", "b"]}
    assert demo.get(f"{base}/a").status_code == 204
    assert demo.get(f"{base}/zzz").status_code == 404
    assert demo.delete(f"{base}/a").status_code == 204
    assert demo.get(base).json() == {"tags": ["b"]}
    assert demo.delete(base).status_code == 204
    assert demo.get(f"{N}/networks/{net['id']}").json()["network"]["tags"] == []
    demo.delete(f"{N}/networks/{net['id']}")


def test_delete_network_in_use_is_409(demo):
    net, _ = make_net(demo)
    create(demo, "ports", {"network_id": net["id"]})
    resp = demo.delete(f"{N}/networks/{net['id']}")
    assert resp.status_code == 409 and error_type(resp) == "NetworkInUse"


def test_bootstrap_creates_public_private_router1(admin, demo):
    public = admin.get(f"{N}/networks", params={"name": "public"}).json()["networks"]
    assert public and public[0]["router:external"] and public[0]["provider:network_type"] == "flat"
    private = demo.get(f"{N}/networks", params={"name": "private"}).json()["networks"]
    assert private and private[0]["project_id"] == demo.project_id
    router = demo.get(f"{N}/routers", params={"name": "router1"}).json()["routers"]
    assert router and router[0]["external_gateway_info"]["network_id"] == public[0]["id"]


def test_list_subnets_of_external_network_hidden_from_other_projects(admin, member):
    ext = create(admin, "networks", {"name": uid(), "router:external": True})
    create(admin, "subnets", {"network_id": ext["id"], "cidr": "172.31.200.0/24", "enable_dhcp": False})
    listed = member.get(f"{N}/networks", params={"router:external": "True"}).json()["networks"]
    assert ext["id"] in [n["id"] for n in listed] and all(n["router:external"] for n in listed)
    assert member.get(f"{N}/subnets", params={"network_id": ext["id"]}).json()["subnets"] == []


def test_show_version_lists_resources(admin):
    names = {r["name"] for r in admin.get(f"{N}").json()["resources"]}
    assert {"network", "subnet", "port", "router", "security_group"} <= names


def test_update_network_mtu_above_maximum_is_400(demo):
    net = create(demo, "networks", {"name": uid()})
    resp = demo.put(f"{N}/networks/{net['id']}", json={"network": {"mtu": 9000}})
    assert resp.status_code == 400 and error_type(resp) == "InvalidInput"
    assert demo.put(f"{N}/networks/{net['id']}", json={"network": {"mtu": 1400}}).json()["network"]["mtu"] == 1400
    assert demo.put(f"{N}/bogus/{net['id']}/tags", json={"tags": []}).status_code == 404


def test_list_availability_zones_for_networks_and_routers(demo):
    # The availability_zone extension is advertised, so the CLI's `availability zone list` asks for it.
    resp = demo.get("/network/v2.0/availability_zones")
    assert resp.status_code == 200
    zones = resp.json()["availability_zones"]
    assert {(z["name"], z["resource"], z["state"]) for z in zones} == {
        ("nova", "network", "available"), ("nova", "router", "available")}
    only = demo.get("/network/v2.0/availability_zones", params={"resource": "router"}).json()
    assert [z["resource"] for z in only["availability_zones"]] == ["router"]
