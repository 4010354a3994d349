"""Security groups and rules; every project gets its ``default`` group lazily, as upstream."""

from __future__ import annotations

import ipaddress

from sqlalchemy import bindparam, select

from onestack.core.errors import BadRequest, Conflict
from onestack.core.uow import UnitOfWork

from .. import model as m
from ..errors import in_use, invalid, not_found
from .common import TOPIC_FIREWALL, Caller, Limits, apply_tags, bump, check_quota, check_revision, visible

PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "icmpv6": 58,
             "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
             "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6,
             "udp": 17, "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136")
ICMP_PROTOCOLS = ("icmp", "icmpv6", "ipv6-icmp", "1", "58")


_DEFAULT = select(m.DefaultSecurityGroup.__table__.c.security_group_id).where(
    m.DefaultSecurityGroup.__table__.c.project_id == bindparam("project_id"))


def ensure_default(uow: UnitOfWork, project_id: str) -> str:
    """The id of ``project_id``'s default group, created with upstream's default rules if missing."""
    found = uow.session.connection().execute(_DEFAULT, {"project_id": project_id}).scalar()
    if found is not None:
        return found
    group = m.SecurityGroup(project_id=project_id, name="default",
                            description="Default security group")
    uow.session.add(group)
    uow.session.flush()
    for ethertype in ("IPv4", "IPv6"):
        group.rules.append(m.SecurityGroupRule(project_id=project_id, direction="egress", ethertype=ethertype))
        group.rules.append(m.SecurityGroupRule(project_id=project_id, direction="ingress", ethertype=ethertype,
                                               remote_group_id=group.id))
    uow.session.add(m.DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
    uow.session.flush()  # a concurrent creator loses on the primary key and retries (common.write)
    return group.id


def has_default(uow: UnitOfWork, project_id: str) -> bool:
    return uow.session.get(m.DefaultSecurityGroup, project_id) is not None


def list_security_groups(uow: UnitOfWork, caller: Caller) -> list[m.SecurityGroup]:
    q = select(m.SecurityGroup).where(visible(m.SecurityGroup, caller))
    return list(uow.session.scalars(q.order_by(m.SecurityGroup.created_at, m.SecurityGroup.id)))


def get_security_group(uow: UnitOfWork, caller: Caller, group_id: str) -> m.SecurityGroup:
    group = uow.session.get(m.SecurityGroup, group_id)
    if group is None or not (caller.is_admin or group.project_id == caller.project_id):
        raise not_found("SecurityGroup", group_id)
    return group


def check_security_group(uow: UnitOfWork, caller: Caller, group_id: str) -> None:
    """Like ``get_security_group`` without loading the rules (port create/update)."""
    owner = uow.session.scalar(select(m.SecurityGroup.project_id).where(m.SecurityGroup.id == group_id))
    if owner is None or not (caller.is_admin or owner == caller.project_id):
        raise not_found("SecurityGroup", group_id)


def find_security_group(uow: UnitOfWork, caller: Caller, name_or_id: str) -> m.SecurityGroup:
    group = uow.session.get(m.SecurityGroup, name_or_id)
    if group is not None and (caller.is_admin or group.project_id == caller.project_id):
        return group
    if name_or_id == "default" and caller.project_id:
        return uow.session.get(m.SecurityGroup, ensure_default(uow, caller.project_id))
    matches = list(uow.session.scalars(select(m.SecurityGroup).where(
        m.SecurityGroup.name == name_or_id, m.SecurityGroup.project_id == caller.project_id)))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Conflict(f"Multiple security_group matches found for name '{name_or_id}', use an ID to be more "
                       "specific.", type="NoUniqueMatch")
    raise not_found("SecurityGroup", name_or_id)


def create_security_group(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict) -> m.SecurityGroup:
    from .networks import owner_of

    project_id = owner_of(caller, body)
    ensure_default(uow, project_id)
    if body.get("name") == "default":
        raise Conflict("Default security group already exists.", type="SecurityGroupDefaultAlreadyExists")
    check_quota(uow, limits, project_id, "security_group")
    group = m.SecurityGroup(project_id=project_id, name=body.get("name") or "",
                            description=body.get("description") or "", stateful=body.get("stateful", True),
                            tags=sorted(set(body.get("tags") or [])))
    uow.session.add(group)
    uow.session.flush()
    for ethertype in ("IPv4", "IPv6"):
        group.rules.append(m.SecurityGroupRule(project_id=project_id, direction="egress", ethertype=ethertype))
    uow.session.flush()
    return group


def update_security_group(uow: UnitOfWork, caller: Caller, group_id: str, body: dict, if_match=None
                          ) -> m.SecurityGroup:
    group = get_security_group(uow, caller, group_id)
    check_revision(group, if_match)
    if group.name == "default" and "name" in body and body["name"] != "default":
        raise Conflict("Updating default security group not allowed.", type="SecurityGroupCannotUpdateDefault")
    for key in ("name", "description", "stateful"):
        if key in body and body[key] is not None:
            setattr(group, key, body[key])
    apply_tags(group, body.get("tags"))
    bump(group)
    uow.emit(TOPIC_FIREWALL, "all")
    return group


def delete_security_group(uow: UnitOfWork, caller: Caller, group_id: str, if_match=None) -> None:
    group = get_security_group(uow, caller, group_id)
    check_revision(group, if_match)
    default = uow.session.get(m.DefaultSecurityGroup, group.project_id)
    if default is not None and default.security_group_id == group.id and not caller.is_admin:
        raise Conflict("Removing default security group not allowed.", type="SecurityGroupCannotRemoveDefault")
    if uow.session.scalar(select(m.PortSecurityGroup.port_id).where(
            m.PortSecurityGroup.security_group_id == group.id).limit(1)):
        raise in_use(f"Security Group {group.id} in use.", "SecurityGroupInUse")
    if default is not None and default.security_group_id == group.id:
        uow.session.delete(default)
    for rule in uow.session.scalars(select(m.SecurityGroupRule).where(
            m.SecurityGroupRule.remote_group_id == group.id, m.SecurityGroupRule.security_group_id != group.id)):
        uow.session.delete(rule)
    uow.session.delete(group)
    uow.emit(TOPIC_FIREWALL, "all")


# -- rules -----------------------------------------------------------------------------------------

def list_rules(uow: UnitOfWork, caller: Caller) -> list[m.SecurityGroupRule]:
    q = select(m.SecurityGroupRule)
    if not caller.is_admin:
        own = select(m.SecurityGroup.id).where(m.SecurityGroup.project_id == caller.project_id)
        q = q.where((m.SecurityGroupRule.project_id == caller.project_id) |
                    m.SecurityGroupRule.security_group_id.in_(own))
    return list(uow.session.scalars(q.order_by(m.SecurityGroupRule.created_at, m.SecurityGroupRule.id)))


def get_rule(uow: UnitOfWork, caller: Caller, rule_id: str) -> m.SecurityGroupRule:
    rule = uow.session.get(m.SecurityGroupRule, rule_id)
    if rule is None or not (caller.is_admin or rule.project_id == caller.project_id
                            or rule.group.project_id == caller.project_id):
        raise not_found("SecurityGroupRule", rule_id)
    return rule


def _protocol(value) -> str | None:
    if value is None or value == "" or str(value).lower() == "any":
        return None
    text = str(value).lower()
    if text in PROTOCOLS:
        return text
    try:
        number = int(text)
    except ValueError:
        raise BadRequest(f"Security group rule protocol {value} not supported. Only protocol values "
                         f"{sorted(PROTOCOLS)} and integer representations [0 to 255] are supported.",
                         type="SecurityGroupRuleInvalidProtocol") from None
    if not 0 <= number <= 255:
        raise BadRequest(f"Security group rule protocol {value} not supported.",
                         type="SecurityGroupRuleInvalidProtocol")
    return str(number)


def _ports(protocol: str | None, lo, hi) -> tuple[int | None, int | None]:
    lo = None if lo is None else int(lo)
    hi = None if hi is None else int(hi)
    if protocol in PORT_PROTOCOLS:
        if (lo is None) != (hi is None) and lo is not None and hi is None:
            hi = lo
        if lo is not None and hi is not None:
            if not (1 <= lo <= 65535 and 1 <= hi <= 65535) and not (lo == 0 and hi == 0):
                raise BadRequest(f"Invalid value for port {lo if not 1 <= lo <= 65535 else hi}.",
                                 type="SecurityGroupInvalidPortValue")
            if lo > hi:
                raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                                 type="SecurityGroupInvalidPortRange")
        elif hi is not None and lo is None:
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                             type="SecurityGroupInvalidPortRange")
        return lo, hi
    if protocol in ICMP_PROTOCOLS:
        for name, value in (("type", lo), ("code", hi)):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(f"Invalid value for ICMP {name} (port_range_min/max): {value}",
                                 type="SecurityGroupInvalidIcmpValue")
        if hi is not None and lo is None:
            raise BadRequest("ICMP code (port-range-max) 0 is provided but ICMP type (port-range-min) is missing.",
                             type="SecurityGroupMissingIcmpType")
        return lo, hi
    if lo is not None or hi is not None:
        raise invalid(f"Protocol {protocol} does not support port ranges")
    return None, None


def create_rule(uow: UnitOfWork, caller: Caller, limits: Limits, body: dict) -> m.SecurityGroupRule:
    group = get_security_group(uow, caller, body["security_group_id"])
    project_id = body.get("project_id") or body.get("tenant_id") or group.project_id
    check_quota(uow, limits, project_id, "security_group_rule")
    direction = body["direction"]
    ethertype = body.get("ethertype") or "IPv4"
    protocol = _protocol(body.get("protocol"))
    lo, hi = _ports(protocol, body.get("port_range_min"), body.get("port_range_max"))
    prefix = body.get("remote_ip_prefix")
    remote_group = body.get("remote_group_id")
    if prefix and remote_group:
        raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                         type="SecurityGroupRemoteGroupAndRemoteIpPrefix")
    if prefix:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise invalid(f"'{prefix}' is not a valid IP subnet") from None
        if (net.version == 4) != (ethertype == "IPv4"):
            raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                             type="SecurityGroupRuleParameterConflict")
        prefix = str(net)
    if remote_group:
        get_security_group(uow, Caller(caller.project_id, True), remote_group)
    for rule in group.rules:
        if (rule.direction, rule.ethertype, rule.protocol, rule.port_range_min, rule.port_range_max,
                rule.remote_ip_prefix, rule.remote_group_id) == (direction, ethertype, protocol, lo, hi, prefix,
                                                                 remote_group):
            raise Conflict(f"Security group rule already exists. Rule id is {rule.id}.",
                           type="SecurityGroupRuleExists")
    rule = m.SecurityGroupRule(project_id=project_id, security_group_id=group.id, direction=direction,
                               ethertype=ethertype, protocol=protocol, port_range_min=lo, port_range_max=hi,
                               remote_ip_prefix=prefix, remote_group_id=remote_group,
                               description=body.get("description") or "")
    group.rules.append(rule)
    bump(group)
    uow.session.flush()
    uow.emit(TOPIC_FIREWALL, "all")
    return rule


def delete_rule(uow: UnitOfWork, caller: Caller, rule_id: str) -> None:
    rule = get_rule(uow, caller, rule_id)
    group = rule.group
    group.rules.remove(rule)
    bump(group)
    uow.emit(TOPIC_FIREWALL, "all")
