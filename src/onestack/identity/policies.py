"""Identity policy defaults under keystone's rule names.

Personas as upstream: ``admin`` is the cloud administrator (keystone's ``admin_required``, which
upstream keeps while scope enforcement is off), readers at system scope see everything, readers at
domain scope see their domain, and users see themselves and their own projects.
"""

ADMIN = "rule:admin_required"
SYSTEM_READER = "(role:reader and system_scope:all)"
OWNER = "user_id:%(target.user.id)s"


def _domain_reader(attr: str) -> str:
    return f"(role:reader and domain_id:%({attr})s)"


ADMIN_OR_READER = f"{ADMIN} or {SYSTEM_READER}"
ANY = ""

RULES: dict[str, str] = {
    "admin_required": "role:admin",
    "service_role": "role:service",
    "service_or_admin": "rule:admin_required or rule:service_role",
    "owner": OWNER,
    "token_subject": "user_id:%(target.token.user_id)s",
    # auth
    "identity:get_auth_catalog": ANY,
    "identity:get_auth_projects": ANY,
    "identity:get_auth_domains": ANY,
    "identity:get_auth_system": ANY,
    "identity:validate_token": f"rule:service_or_admin or {SYSTEM_READER} or rule:token_subject",
    "identity:check_token": f"rule:service_or_admin or {SYSTEM_READER} or rule:token_subject",
    "identity:revoke_token": "rule:service_or_admin or rule:token_subject",
    # domains
    "identity:get_domain": f"{ADMIN_OR_READER} or token.domain.id:%(target.domain.id)s"
                           " or token.project.domain.id:%(target.domain.id)s",
    "identity:list_domains": ADMIN_OR_READER,
    "identity:create_domain": ADMIN,
    "identity:update_domain": ADMIN,
    "identity:delete_domain": ADMIN,
    # projects
    "identity:get_project": f"{ADMIN_OR_READER} or {_domain_reader('target.project.domain_id')}"
                            " or project_id:%(target.project.id)s",
    "identity:list_projects": f"{ADMIN_OR_READER} or {_domain_reader('target.domain_id')}",
    "identity:list_user_projects": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:create_project": ADMIN,
    "identity:update_project": ADMIN,
    "identity:delete_project": ADMIN,
    "identity:list_project_tags": f"{ADMIN_OR_READER} or project_id:%(target.project.id)s",
    "identity:get_project_tag": f"{ADMIN_OR_READER} or project_id:%(target.project.id)s",
    "identity:update_project_tags": ADMIN,
    "identity:create_project_tag": ADMIN,
    "identity:delete_project_tag": ADMIN,
    "identity:delete_project_tags": ADMIN,
    # users
    "identity:get_user": f"{ADMIN_OR_READER} or {_domain_reader('target.user.domain_id')} or {OWNER}",
    "identity:list_users": f"{ADMIN_OR_READER} or {_domain_reader('target.domain_id')}",
    "identity:create_user": ADMIN,
    "identity:update_user": ADMIN,
    "identity:delete_user": ADMIN,
    # groups
    "identity:get_group": f"{ADMIN_OR_READER} or {_domain_reader('target.group.domain_id')}",
    "identity:list_groups": f"{ADMIN_OR_READER} or {_domain_reader('target.domain_id')}",
    "identity:list_groups_for_user": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:create_group": ADMIN,
    "identity:update_group": ADMIN,
    "identity:delete_group": ADMIN,
    "identity:list_users_in_group": f"{ADMIN_OR_READER} or {_domain_reader('target.group.domain_id')}",
    "identity:check_user_in_group": f"{ADMIN_OR_READER} or {_domain_reader('target.group.domain_id')}",
    "identity:add_user_to_group": ADMIN,
    "identity:remove_user_from_group": ADMIN,
    # roles
    "identity:get_role": ADMIN_OR_READER,
    "identity:list_roles": ADMIN_OR_READER,
    "identity:create_role": ADMIN,
    "identity:update_role": ADMIN,
    "identity:delete_role": ADMIN,
    "identity:get_domain_role": ADMIN_OR_READER,
    "identity:list_domain_roles": ADMIN_OR_READER,
    "identity:create_domain_role": ADMIN,
    "identity:update_domain_role": ADMIN,
    "identity:delete_domain_role": ADMIN,
    "identity:get_implied_role": ADMIN_OR_READER,
    "identity:list_implied_roles": ADMIN_OR_READER,
    "identity:create_implied_role": ADMIN,
    "identity:delete_implied_role": ADMIN,
    "identity:list_role_inference_rules": ADMIN_OR_READER,
    "identity:check_implied_role": ADMIN_OR_READER,
    # grants
    "identity:check_grant": f"{ADMIN_OR_READER} or {_domain_reader('target.domain.id')}",
    "identity:list_grants": f"{ADMIN_OR_READER} or {_domain_reader('target.domain.id')}",
    "identity:create_grant": ADMIN,
    "identity:revoke_grant": ADMIN,
    "identity:check_system_grant_for_user": ADMIN_OR_READER,
    "identity:list_system_grants_for_user": ADMIN_OR_READER,
    "identity:create_system_grant_for_user": ADMIN,
    "identity:revoke_system_grant_for_user": ADMIN,
    "identity:check_system_grant_for_group": ADMIN_OR_READER,
    "identity:list_system_grants_for_group": ADMIN_OR_READER,
    "identity:create_system_grant_for_group": ADMIN,
    "identity:revoke_system_grant_for_group": ADMIN,
    "identity:list_role_assignments": f"{ADMIN_OR_READER} or {_domain_reader('target.domain_id')}",
    "identity:list_role_assignments_for_tree": f"{ADMIN_OR_READER} or "
                                               "(role:reader and project_id:%(target.project.id)s)",
    # catalog
    "identity:get_region": ANY,
    "identity:list_regions": ANY,
    "identity:create_region": ADMIN,
    "identity:update_region": ADMIN,
    "identity:delete_region": ADMIN,
    "identity:get_service": ADMIN_OR_READER,
    "identity:list_services": ADMIN_OR_READER,
    "identity:create_service": ADMIN,
    "identity:update_service": ADMIN,
    "identity:delete_service": ADMIN,
    "identity:get_endpoint": ADMIN_OR_READER,
    "identity:list_endpoints": ADMIN_OR_READER,
    "identity:create_endpoint": ADMIN,
    "identity:update_endpoint": ADMIN,
    "identity:delete_endpoint": ADMIN,
    # application credentials
    "identity:get_application_credential": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:list_application_credentials": f"{ADMIN_OR_READER} or {OWNER}",
    "identity:create_application_credential": OWNER,
    "identity:delete_application_credential": f"{ADMIN} or {OWNER}",
    # unified limits
    "identity:get_registered_limit": ANY,
    "identity:list_registered_limits": ANY,
    "identity:create_registered_limits": ADMIN,
    "identity:update_registered_limit": ADMIN,
    "identity:delete_registered_limit": ADMIN,
    "identity:get_limit_model": ANY,
    "identity:get_limit": f"{ADMIN_OR_READER} or project_id:%(target.limit.project_id)s",
    "identity:list_limits": ANY,
    "identity:create_limits": ADMIN,
    "identity:update_limit": ADMIN,
    "identity:delete_limit": ADMIN,
}
