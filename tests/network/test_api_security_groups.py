from __future__ import annotations

from .conftest import N, create, error_type, uid


def test_list_security_groups_creates_default_lazily(member):
    groups = member.get(f"{N}/security-groups").json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    rules = groups[0]["security_group_rules"]
    kinds = sorted((r["direction"], r["ethertype"], r["remote_group_id"] is not None) for r in rules)
    assert kinds == [("egress", "IPv4", False), ("egress", "IPv6", False), ("ingress", "IPv4", True),
                     ("ingress", "IPv6", True)]
    assert len(member.get(f"{N}/security-groups").json()["security_groups"]) == 1
    resp = member.delete(f"{N}/security-groups/{groups[0]['id']}")
    assert resp.status_code == 409 and error_type(resp) == "SecurityGroupCannotRemoveDefault"


def test_create_security_group_rules_validate_and_dedupe(member):
    group = create(member, "security-groups", {"name": uid()})
    assert len(group["security_group_rules"]) == 2  # the two egress rules
    rule = {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
            "port_range_max": 22, "remote_ip_prefix": "10.0.0.5/8"}
    made = create(member, "security-group-rules", rule)
    assert made["remote_ip_prefix"] == "10.0.0.0/8" and made["ethertype"] == "IPv4"
    dup = member.post(f"{N}/security-group-rules", json={"security_group_rule": rule})
    assert dup.status_code == 409 and error_type(dup) == "SecurityGroupRuleExists"
    bad = [
        {**rule, "port_range_min": 30, "port_range_max": 20},
        {**rule, "protocol": "bogus"},
        {**rule, "port_range_max": 70000},
        {**rule, "ethertype": "IPv6"},
        {**rule, "remote_group_id": group["id"]},
        {**rule, "direction": "sideways"},
    ]
    for body in bad:
        resp = member.post(f"{N}/security-group-rules", json={"security_group_rule": body})
        assert resp.status_code == 400, (body, resp.text)
    icmp = create(member, "security-group-rules", {"security_group_id": group["id"], "direction": "ingress",
                                                    "protocol": "icmp", "port_range_min": 8, "port_range_max": 0})
    assert icmp["port_range_min"] == 8
    remote = create(member, "security-group-rules", {"security_group_id": group["id"], "direction": "ingress",
                                                      "ethertype": "IPv6", "remote_group_id": group["id"]})
    assert remote["remote_group_id"] == group["id"]
    shown = member.get(f"{N}/security-groups/{group['id']}").json()["security_group"]
    assert len(shown["security_group_rules"]) == 5 and shown["revision_number"] > group["revision_number"]
    assert member.delete(f"{N}/security-group-rules/{made['id']}").status_code == 204
    assert member.get(f"{N}/security-group-rules/{made['id']}").status_code == 404
    assert member.delete(f"{N}/security-groups/{group['id']}").status_code == 204


def test_delete_security_group_in_use_is_409(member):
    group = create(member, "security-groups", {"name": uid()})
    net = create(member, "networks", {"name": uid()})
    create(member, "subnets", {"network_id": net["id"], "cidr": "10.60.0.0/24", "ip_version": 4})
    create(member, "ports", {"network_id": net["id"], "security_groups": [group["id"]]})
    resp = member.delete(f"{N}/security-groups/{group['id']}")
    assert resp.status_code == 409 and error_type(resp) == "SecurityGroupInUse"


def test_show_security_group_of_other_project_is_404(member, other_member):
    theirs = create(other_member, "security-groups", {"name": uid()})
    resp = member.get(f"{N}/security-groups/{theirs['id']}")
    assert resp.status_code == 404 and error_type(resp) == "SecurityGroupNotFound"


def test_create_security_group_named_default_is_409(member):
    resp = member.post(f"{N}/security-groups", json={"security_group": {"name": "default"}})
    assert resp.status_code == 409
    assert len(member.get(f"{N}/security-groups", params={"name": "default"}).json()["security_groups"]) == 1
