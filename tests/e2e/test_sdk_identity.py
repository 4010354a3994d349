"""openstacksdk (``openstack.connect(cloud=...)``) against the real server: identity operations."""

from __future__ import annotations

import openstack
import pytest
from openstack import exceptions

pytestmark = pytest.mark.e2e


def test_connect_authorizes_and_reads_catalog(sdk):
    token = sdk.authorize()
    assert token
    assert sdk.current_project_id
    assert sdk.identity.get_endpoint_data().url.rstrip("/").endswith("/identity/v3")
    assert "identity" in {s["type"] for s in sdk.service_catalog}


def test_sdk_domain_project_user_group_role_lifecycle(sdk, name):
    domain = sdk.identity.create_domain(name=name, description="d")
    project = sdk.identity.create_project(name=name, domain_id=domain.id, description="p", tags=["x"])
    assert project.domain_id == domain.id and project.tags == ["x"]
    user = sdk.identity.create_user(name=name, domain_id=domain.id, password="pw-1", default_project_id=project.id)
    group = sdk.identity.create_group(name=name, domain_id=domain.id)
    role = sdk.identity.create_role(name=name)
    try:
        assert sdk.identity.find_project(name, domain_id=domain.id).id == project.id
        assert sdk.identity.get_user(user.id).default_project_id == project.id
        assert name in {p.name for p in sdk.identity.projects(domain_id=domain.id)}
        assert [u.id for u in sdk.identity.users(domain_id=domain.id)] == [user.id]

        sdk.identity.add_user_to_group(user, group)
        assert sdk.identity.check_user_in_group(user, group)
        assert [u.id for u in sdk.identity.group_users(group)] == [user.id]

        sdk.identity.assign_project_role_to_user(project, user, role)
        assert sdk.identity.validate_user_has_project_role(project, user, role)
        sdk.identity.assign_project_role_to_group(project, group, sdk.identity.find_role("member"))
        effective = list(sdk.identity.role_assignments(user_id=user.id, effective=True, include_names=True))
        names = {a.role["name"] for a in effective}
        assert names == {name, "member", "reader"}
        assert all(a.scope["project"]["id"] == project.id for a in effective)
        assert {p.id for p in sdk.identity.user_projects(user)} == {project.id}

        sdk.identity.update_project(project, description="p2", is_enabled=False)
        assert sdk.identity.get_project(project.id).description == "p2"
        sdk.identity.update_user(user, email="x@example.org")
        assert sdk.identity.get_user(user.id).email == "x@example.org"
        sdk.identity.update_group(group, description="g2")
        assert sdk.identity.get_group(group.id).description == "g2"
        sdk.identity.update_role(role, description="r2")
        assert sdk.identity.get_role(role.id).description == "r2"

        sdk.identity.unassign_project_role_from_user(project, user, role)
        assert not sdk.identity.validate_user_has_project_role(project, user, role)
        sdk.identity.remove_user_from_group(user, group)
        assert not sdk.identity.check_user_in_group(user, group)
    finally:
        sdk.identity.delete_role(role)
        sdk.identity.delete_group(group)
        sdk.identity.delete_user(user)
        sdk.identity.delete_project(project)
        sdk.identity.update_domain(domain, is_enabled=False)
        sdk.identity.delete_domain(domain)
    with pytest.raises(exceptions.NotFoundException):
        sdk.identity.get_project(project.id)


def test_sdk_cloud_layer(sdk, name):
    project = sdk.create_project(name, "default", description="cloud layer")
    user = sdk.create_user(name, password="pw", default_project=project.id, domain_id="default")
    try:
        assert sdk.get_project(name).id == project.id
        assert sdk.grant_role("member", user=user.id, project=project.id)
        assert {a["role"]["id"] for a in sdk.list_role_assignments({"user": user.id, "project": project.id})} == {
            sdk.get_role("member").id}
        assert sdk.revoke_role("member", user=user.id, project=project.id)
        assert sdk.search_users(name)[0].id == user.id
    finally:
        sdk.delete_user(user.id)
        sdk.delete_project(project.id)
    assert sdk.get_project(name) is None


def test_sdk_member_sees_only_its_project(sdk_env):
    demo = openstack.connect(cloud="onestack-demo")
    try:
        projects = list(demo.identity.user_projects(demo.current_user_id))
        assert [p.name for p in projects] == ["demo"]
        with pytest.raises(exceptions.ForbiddenException):
            list(demo.identity.users())
    finally:
        demo.close()


def test_sdk_application_credential_and_limits(sdk, name, sdk_env):
    user_id = sdk.current_user_id
    cred = sdk.identity.create_application_credential(user_id, name=name, roles=[{"name": "reader"}])
    try:
        assert cred.secret and cred.project_id == sdk.current_project_id
        assert name in {c.name for c in sdk.identity.application_credentials(user_id)}
        conn = openstack.connect(auth_type="v3applicationcredential",
                                 auth={"auth_url": sdk.config.auth["auth_url"],
                                       "application_credential_id": cred.id,
                                       "application_credential_secret": cred.secret},
                                 region_name="RegionOne", identity_api_version="3")
        try:
            assert conn.authorize()
            assert conn.current_project_id == sdk.current_project_id
        finally:
            conn.close()
    finally:
        sdk.identity.delete_application_credential(user_id, cred.id)

    service = sdk.identity.find_service("keystone")
    resource = name.replace("-", "_")
    registered = sdk.identity.create_registered_limit(service_id=service.id, resource_name=resource,
                                                      default_limit=3, region_id="RegionOne")
    limit = sdk.identity.create_limit(service_id=service.id, project_id=sdk.current_project_id,
                                      resource_name=resource, resource_limit=4, region_id="RegionOne")
    try:
        assert sdk.identity.get_limit(limit.id).resource_limit == 4
        assert registered.id in {r.id for r in sdk.identity.registered_limits()}
        sdk.identity.update_limit(limit, resource_limit=6)
        assert sdk.identity.get_limit(limit.id).resource_limit == 6
    finally:
        sdk.identity.delete_limit(limit)
        sdk.identity.delete_registered_limit(registered)


def test_sdk_catalog_resources(sdk):
    assert "RegionOne" in {r.id for r in sdk.identity.regions()}
    services = {s.type: s for s in sdk.identity.services()}
    assert "identity" in services
    endpoints = list(sdk.identity.endpoints(service_id=services["identity"].id))
    assert {e.interface for e in endpoints} == {"public", "internal", "admin"}
