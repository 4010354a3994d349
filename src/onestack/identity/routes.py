"""The whole identity URL table, relative to /identity."""

from onestack.core.http import Route

from .api import appcreds, auth, catalog, domains, grants, groups, limits, projects, roles, users, versions

R = Route

_GRANT_TARGETS = ("/v3/projects/{project_id}/users/{user_id}", "/v3/projects/{project_id}/groups/{group_id}",
                  "/v3/domains/{domain_id}/users/{user_id}", "/v3/domains/{domain_id}/groups/{group_id}",
                  "/v3/system/users/{user_id}", "/v3/system/groups/{group_id}")
_INHERITED_TARGETS = tuple(f"/v3/OS-INHERIT{t[3:]}" for t in _GRANT_TARGETS[:4])


def _grant_routes() -> list[Route]:
    routes = []
    for target in _GRANT_TARGETS:
        routes += [
            R("GET", f"{target}/roles", grants.list_grants),
            R("PUT", f"{target}/roles/{{role_id}}", grants.create_grant),
            R("HEAD", f"{target}/roles/{{role_id}}", grants.check_grant),
            R("GET", f"{target}/roles/{{role_id}}", grants.check_grant),
            R("DELETE", f"{target}/roles/{{role_id}}", grants.revoke_grant),
        ]
    for target in _INHERITED_TARGETS:
        routes += [
            R("GET", f"{target}/roles/inherited_to_projects", grants.list_grants),
            R("PUT", f"{target}/roles/{{role_id}}/inherited_to_projects", grants.create_grant),
            R("HEAD", f"{target}/roles/{{role_id}}/inherited_to_projects", grants.check_grant),
            R("GET", f"{target}/roles/{{role_id}}/inherited_to_projects", grants.check_grant),
            R("DELETE", f"{target}/roles/{{role_id}}/inherited_to_projects", grants.revoke_grant),
        ]
    return routes


ROUTES: list[Route] = [
    R("GET", "/", versions.list_versions, public=True),
    R("GET", "/v3", versions.show_version, public=True),
    # auth
    R("POST", "/v3/auth/tokens", auth.create_token, public=True),
    R("GET", "/v3/auth/tokens", auth.validate_token, inline=auth.validate_token_inline),
    R("HEAD", "/v3/auth/tokens", auth.validate_token, inline=auth.validate_token_inline),
    R("DELETE", "/v3/auth/tokens", auth.revoke_token),
    R("GET", "/v3/auth/catalog", auth.get_auth_catalog),
    R("GET", "/v3/auth/projects", auth.get_auth_projects),
    R("GET", "/v3/auth/domains", auth.get_auth_domains),
    R("GET", "/v3/auth/system", auth.get_auth_system),
    # domains
    R("GET", "/v3/domains", domains.list_domains),
    R("POST", "/v3/domains", domains.create_domain),
    R("GET", "/v3/domains/{domain_id}", domains.show_domain),
    R("PATCH", "/v3/domains/{domain_id}", domains.update_domain),
    R("DELETE", "/v3/domains/{domain_id}", domains.delete_domain),
    # projects
    R("GET", "/v3/projects", projects.list_projects, inline=projects.list_projects_inline),
    R("POST", "/v3/projects", projects.create_project),
    R("GET", "/v3/projects/{project_id}", projects.show_project),
    R("PATCH", "/v3/projects/{project_id}", projects.update_project),
    R("DELETE", "/v3/projects/{project_id}", projects.delete_project),
    R("GET", "/v3/projects/{project_id}/tags", projects.list_project_tags),
    R("PUT", "/v3/projects/{project_id}/tags", projects.replace_project_tags),
    R("DELETE", "/v3/projects/{project_id}/tags", projects.remove_project_tags),
    R("GET", "/v3/projects/{project_id}/tags/{tag}", projects.check_project_tag),
    R("PUT", "/v3/projects/{project_id}/tags/{tag}", projects.add_project_tag),
    R("DELETE", "/v3/projects/{project_id}/tags/{tag}", projects.remove_project_tag),
    # users
    R("GET", "/v3/users", users.list_users),
    R("POST", "/v3/users", users.create_user),
    R("GET", "/v3/users/{user_id}", users.show_user),
    R("PATCH", "/v3/users/{user_id}", users.update_user),
    R("DELETE", "/v3/users/{user_id}", users.delete_user),
    R("POST", "/v3/users/{user_id}/password", users.change_password, public=True),
    R("GET", "/v3/users/{user_id}/groups", users.list_user_groups),
    R("GET", "/v3/users/{user_id}/projects", projects.list_user_projects),
    R("GET", "/v3/users/{user_id}/application_credentials", appcreds.list_application_credentials),
    R("POST", "/v3/users/{user_id}/application_credentials", appcreds.create_application_credential),
    R("GET", "/v3/users/{user_id}/application_credentials/{application_credential_id}",
      appcreds.show_application_credential),
    R("DELETE", "/v3/users/{user_id}/application_credentials/{application_credential_id}",
      appcreds.delete_application_credential),
    # groups
    R("GET", "/v3/groups", groups.list_groups),
    R("POST", "/v3/groups", groups.create_group),
    R("GET", "/v3/groups/{group_id}", groups.show_group),
    R("PATCH", "/v3/groups/{group_id}", groups.update_group),
    R("DELETE", "/v3/groups/{group_id}", groups.delete_group),
    R("GET", "/v3/groups/{group_id}/users", groups.list_group_users),
    R("PUT", "/v3/groups/{group_id}/users/{user_id}", groups.add_group_user),
    R("HEAD", "/v3/groups/{group_id}/users/{user_id}", groups.check_group_user),
    R("GET", "/v3/groups/{group_id}/users/{user_id}", groups.check_group_user),
    R("DELETE", "/v3/groups/{group_id}/users/{user_id}", groups.remove_group_user),
    # roles
    R("GET", "/v3/roles", roles.list_roles),
    R("POST", "/v3/roles", roles.create_role),
    R("GET", "/v3/roles/{role_id}", roles.show_role),
    R("PATCH", "/v3/roles/{role_id}", roles.update_role),
    R("DELETE", "/v3/roles/{role_id}", roles.delete_role),
    R("GET", "/v3/roles/{prior_role_id}/implies", roles.list_implied_roles),
    R("GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.show_implied_role),
    R("HEAD", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.show_implied_role),
    R("PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.create_implied_role),
    R("DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.delete_implied_role),
    R("GET", "/v3/role_inferences", roles.list_role_inferences),
    R("GET", "/v3/role_assignments", grants.list_role_assignments),
    *_grant_routes(),
    # catalog
    R("GET", "/v3/regions", catalog.list_regions),
    R("POST", "/v3/regions", catalog.create_region),
    R("GET", "/v3/regions/{region_id}", catalog.show_region),
    R("PUT", "/v3/regions/{region_id}", catalog.put_region),
    R("PATCH", "/v3/regions/{region_id}", catalog.update_region),
    R("DELETE", "/v3/regions/{region_id}", catalog.delete_region),
    R("GET", "/v3/services", catalog.list_services),
    R("POST", "/v3/services", catalog.create_service),
    R("GET", "/v3/services/{service_id}", catalog.show_service),
    R("PATCH", "/v3/services/{service_id}", catalog.update_service),
    R("DELETE", "/v3/services/{service_id}", catalog.delete_service),
    R("GET", "/v3/endpoints", catalog.list_endpoints),
    R("POST", "/v3/endpoints", catalog.create_endpoint),
    R("GET", "/v3/endpoints/{endpoint_id}", catalog.show_endpoint),
    R("PATCH", "/v3/endpoints/{endpoint_id}", catalog.update_endpoint),
    R("DELETE", "/v3/endpoints/{endpoint_id}", catalog.delete_endpoint),
    # unified limits
    R("GET", "/v3/registered_limits", limits.list_registered_limits),
    R("POST", "/v3/registered_limits", limits.create_registered_limits),
    R("GET", "/v3/registered_limits/{registered_limit_id}", limits.show_registered_limit),
    R("PATCH", "/v3/registered_limits/{registered_limit_id}", limits.update_registered_limit),
    R("DELETE", "/v3/registered_limits/{registered_limit_id}", limits.delete_registered_limit),
    R("GET", "/v3/limits/model", limits.show_limit_model),
    R("GET", "/v3/limits", limits.list_limits),
    R("POST", "/v3/limits", limits.create_limits),
    R("GET", "/v3/limits/{limit_id}", limits.show_limit),
    R("PATCH", "/v3/limits/{limit_id}", limits.update_limit),
    R("DELETE", "/v3/limits/{limit_id}", limits.delete_limit),
]
