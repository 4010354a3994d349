"""The oslo.policy-style rule language and the Enforcer with policy.yaml overrides."""

import pytest

from onestack.core.context import RequestContext
from onestack.core.errors import Forbidden
from onestack.core.policy import Enforcer, PolicyError, parse

MEMBER = RequestContext(user_id="u1", project_id="p1", roles=("member", "reader"))
ADMIN = RequestContext(user_id="u0", project_id="p0", roles=("Admin",))
SYSTEM_READER = RequestContext(user_id="u2", system_scope="all", roles=("reader",))


def allowed(rule: str, ctx: RequestContext, target: dict | None = None, **rules) -> bool:
    return Enforcer({"it": rule, **rules}).allowed(ctx, "it", target or {})


def test_parse_role_check_is_case_insensitive():
    assert allowed("role:admin", ADMIN)
    assert not allowed("role:admin", MEMBER)


def test_parse_empty_rule_and_constants():
    assert allowed("", MEMBER)
    assert allowed("@", MEMBER)
    assert not allowed("!", ADMIN)


def test_parse_and_or_not_precedence():
    # "and" binds tighter than "or"
    assert allowed("role:admin or role:member and role:reader", MEMBER)
    assert not allowed("role:admin or role:member and role:nobody", MEMBER)
    assert allowed("not role:admin", MEMBER)
    assert not allowed("not role:member", MEMBER)
    assert allowed("not (role:admin or role:nobody) and role:member", MEMBER)


def test_parse_parentheses():
    assert not allowed("(role:admin or role:member) and role:nobody", MEMBER)
    assert allowed("role:nobody or (role:member and (role:reader))", MEMBER)


def test_parse_target_substitution():
    assert allowed("user_id:%(target.user.id)s", MEMBER, {"target.user.id": "u1"})
    assert not allowed("user_id:%(target.user.id)s", MEMBER, {"target.user.id": "u9"})
    # A target attribute that is missing or None never matches.
    assert not allowed("user_id:%(target.user.id)s", MEMBER, {})
    assert not allowed("project_id:%(target.project.id)s", RequestContext(roles=("reader",)),
                       {"target.project.id": None})


def test_parse_literal_against_creds():
    assert allowed("system_scope:all", SYSTEM_READER)
    assert not allowed("system_scope:all", MEMBER)


def test_parse_quoted_literal_against_target():
    assert allowed("'member':%(role.name)s", MEMBER, {"role.name": "member"})
    assert not allowed("'member':%(role.name)s", MEMBER, {"role.name": "admin"})


def test_parse_rule_reference():
    assert allowed("rule:admin_required or rule:owner", MEMBER, {"target.user.id": "u1"},
                   admin_required="role:admin", owner="user_id:%(target.user.id)s")
    assert not allowed("rule:missing", ADMIN)


def test_parse_list_valued_creds():
    assert allowed("roles:member", MEMBER)


@pytest.mark.parametrize("text", ["role:admin and", "(role:admin", "role:admin)", "admin", "or", "role:a role:b"])
def test_parse_malformed_rule_is_error(text):
    with pytest.raises(PolicyError):
        parse(text)


def test_enforce_unknown_rule_is_error():
    with pytest.raises(PolicyError):
        Enforcer({}).allowed(MEMBER, "identity:nothing")


def test_enforce_raises_forbidden_naming_rule():
    with pytest.raises(Forbidden, match="identity:create_user"):
        Enforcer({"identity:create_user": "role:admin"}).enforce(MEMBER, "identity:create_user")


def test_enforcer_policy_file_overrides_defaults(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"identity:list_projects": "role:reader"\n"custom": "@"\n')
    enforcer = Enforcer({"identity:list_projects": "role:admin", "identity:create_project": "role:admin"},
                        str(path))
    assert enforcer.allowed(MEMBER, "identity:list_projects")
    assert not enforcer.allowed(MEMBER, "identity:create_project")
    assert enforcer.allowed(MEMBER, "custom")


def test_enforcer_missing_policy_file_uses_defaults(tmp_path):
    enforcer = Enforcer({"x": "role:admin"}, str(tmp_path / "absent.yaml"))
    assert enforcer.allowed(ADMIN, "x")


def test_enforcer_policy_file_not_a_mapping_is_error(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(PolicyError):
        Enforcer({}, str(path))


def test_identity_default_rules_all_parse():
    from onestack.identity.policies import RULES

    enforcer = Enforcer(RULES)
    assert enforcer.allowed(ADMIN, "identity:create_user")
    assert not enforcer.allowed(MEMBER, "identity:create_user")
    assert enforcer.allowed(SYSTEM_READER, "identity:list_users")
    assert not enforcer.allowed(SYSTEM_READER, "identity:create_user")
    assert enforcer.allowed(MEMBER, "identity:get_user", {"target.user.id": "u1"})
    assert not enforcer.allowed(MEMBER, "identity:get_user", {"target.user.id": "u2"})
