"""First-start bootstrap, idempotent: default domain, roles, admin/service/demo projects and users."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from onestack.core.uow import UnitOfWork

from ..model import Domain, Project, User
from . import roles as roles_svc
from .catalog import ensure_service_endpoints
from .resources import DEFAULT_DOMAIN_ID, CreateDomain, CreateProject, create_domain, create_project
from .roles import Grant
from .users import CreateUser, PasswordPolicy, check_secret, create_user, hash_secret

DEFAULT_ROLES = ("admin", "member", "reader")


@dataclass(frozen=True)
class Bootstrap:
    admin_password: str
    demo_password: str
    region: str
    services: tuple[tuple[str, str, str], ...]  # (type, name, url)
    reset_admin_password: bool = False


def _project(uow: UnitOfWork, name: str, description: str) -> Project:
    project = uow.session.scalars(
        select(Project).where(Project.name == name, Project.domain_id == DEFAULT_DOMAIN_ID)
    ).first()
    return project or create_project(uow, CreateProject(name=name, domain_id=DEFAULT_DOMAIN_ID,
                                                        description=description))


def _user(uow: UnitOfWork, name: str, password: str, project: Project, policy: PasswordPolicy, reset: bool) -> User:
    user = uow.session.scalars(select(User).where(User.name == name, User.domain_id == DEFAULT_DOMAIN_ID)).first()
    if user is None:
        return create_user(uow, CreateUser(name=name, domain_id=DEFAULT_DOMAIN_ID, password=password,
                                           default_project_id=project.id), policy)
    if reset and not check_secret(password, user.password_hash):
        user.password_hash = hash_secret(password, policy.rounds)
    return user


def bootstrap(uow: UnitOfWork, cmd: Bootstrap, policy: PasswordPolicy) -> None:
    if uow.session.get(Domain, DEFAULT_DOMAIN_ID) is None:
        create_domain(uow, CreateDomain(id=DEFAULT_DOMAIN_ID, name="Default",
                                        description="The default domain"))
    role_ids = {}
    for name in DEFAULT_ROLES:
        role = roles_svc.find_role(uow, name) or roles_svc.create_role(uow, name)
        role_ids[name] = role.id
    uow.session.flush()
    roles_svc.create_implied_role(uow, role_ids["admin"], role_ids["member"])
    roles_svc.create_implied_role(uow, role_ids["member"], role_ids["reader"])
    admin_project = _project(uow, "admin", "Bootstrap project for initializing the cloud.")
    _project(uow, "service", "Projects of the services' own users.")
    demo_project = _project(uow, "demo", "A project for trying onestack as an ordinary member.")
    admin = _user(uow, "admin", cmd.admin_password, admin_project, policy, cmd.reset_admin_password)
    demo = _user(uow, "demo", cmd.demo_password, demo_project, policy, False)
    uow.session.flush()
    roles_svc.create_grant(uow, Grant(role_id=role_ids["admin"], user_id=admin.id, project_id=admin_project.id))
    roles_svc.create_grant(uow, Grant(role_id=role_ids["admin"], user_id=admin.id, system=True))
    roles_svc.create_grant(uow, Grant(role_id=role_ids["admin"], user_id=admin.id, domain_id=DEFAULT_DOMAIN_ID))
    roles_svc.create_grant(uow, Grant(role_id=role_ids["member"], user_id=demo.id, project_id=demo_project.id))
    for type_, name, url in cmd.services:
        ensure_service_endpoints(uow, type_, name, url, cmd.region)
