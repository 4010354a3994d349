"""Roles, implied roles and role assignments; effective roles of a user on a scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from onestack.core.errors import BadRequest, Forbidden, NotFound
from onestack.core.uow import UnitOfWork

from ..model import (
    GROUP_DOMAIN,
    GROUP_PROJECT,
    GROUP_SYSTEM,
    NULL_DOMAIN,
    SYSTEM_ALL,
    USER_DOMAIN,
    USER_PROJECT,
    USER_SYSTEM,
    Assignment,
    Domain,
    Group,
    GroupMembership,
    ImpliedRole,
    Project,
    Role,
    User,
)
from .common import apply, changed, flush_unique, get
from .resources import ancestors, get_domain, get_project


def get_role(uow: UnitOfWork, role_id: str) -> Role:
    return get(uow, Role, role_id, "role")


def find_role(uow: UnitOfWork, name: str, domain_id: str | None = None) -> Role | None:
    return uow.session.scalars(
        select(Role).where(Role.name == name, Role.domain_id == (domain_id or NULL_DOMAIN))
    ).first()


def list_roles(uow: UnitOfWork, filters: dict) -> list[Role]:
    query = select(Role).order_by(Role.name)
    query = query.where(Role.domain_id == (filters.get("domain_id") or NULL_DOMAIN))
    if "name" in filters:
        query = query.where(Role.name == filters["name"])
    return list(uow.session.scalars(query))


def create_role(uow: UnitOfWork, name: str, domain_id: str | None = None, description: str | None = None,
                options: dict | None = None, role_id: str | None = None) -> Role:
    if domain_id:
        get_domain(uow, domain_id)
    role = Role(name=name, domain_id=domain_id or NULL_DOMAIN, description=description, options=options or {})
    if role_id:
        role.id = role_id
    uow.session.add(role)
    flush_unique(uow, f"Duplicate entry: a role named {name} already exists.")
    return role


def update_role(uow: UnitOfWork, role_id: str, changes: dict) -> Role:
    role = get_role(uow, role_id)
    if role.options.get("immutable") and set(changes) - {"options"}:
        raise Forbidden(f"Role {role.id} is immutable.")
    if "domain_id" in changes and (changes["domain_id"] or NULL_DOMAIN) != role.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    apply(role, changes, ("name", "description", "options"))
    flush_unique(uow, f"Duplicate entry: a role named {role.name} already exists.")
    changed(uow, role.id)
    return role


def delete_role(uow: UnitOfWork, role_id: str) -> None:
    role = get_role(uow, role_id)
    if role.options.get("immutable"):
        raise Forbidden(f"Role {role.id} is immutable.")
    uow.session.execute(delete(Assignment).where(Assignment.role_id == role.id))
    uow.session.execute(
        delete(ImpliedRole).where((ImpliedRole.prior_role_id == role.id) | (ImpliedRole.implied_role_id == role.id))
    )
    uow.session.delete(role)
    changed(uow, role.id)


# -- implied roles --------------------------------------------------------------------------------


def implications(uow: UnitOfWork) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for prior, implied in uow.session.execute(select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)):
        result.setdefault(prior, set()).add(implied)
    return result


def expand_implied(role_ids: set[str], rules: dict[str, set[str]]) -> set[str]:
    result, todo = set(role_ids), list(role_ids)
    while todo:
        for implied in rules.get(todo.pop(), ()):
            if implied not in result:
                result.add(implied)
                todo.append(implied)
    return result


def create_implied_role(uow: UnitOfWork, prior_id: str, implied_id: str) -> tuple[Role, Role]:
    prior, implied = get_role(uow, prior_id), get_role(uow, implied_id)
    if prior.id == implied.id or prior.id in expand_implied({implied.id}, implications(uow)):
        raise Forbidden("Creating this implied role would create a loop.")
    if uow.session.get(ImpliedRole, (prior.id, implied.id)) is None:
        uow.session.add(ImpliedRole(prior_role_id=prior.id, implied_role_id=implied.id))
        changed(uow, prior.id)
    return prior, implied


def get_implied_role(uow: UnitOfWork, prior_id: str, implied_id: str) -> tuple[Role, Role]:
    prior, implied = get_role(uow, prior_id), get_role(uow, implied_id)
    if uow.session.get(ImpliedRole, (prior.id, implied.id)) is None:
        raise NotFound(f"{prior.id} does not imply {implied.id}.")
    return prior, implied


def delete_implied_role(uow: UnitOfWork, prior_id: str, implied_id: str) -> None:
    get_implied_role(uow, prior_id, implied_id)
    uow.session.execute(
        delete(ImpliedRole).where(ImpliedRole.prior_role_id == prior_id, ImpliedRole.implied_role_id == implied_id)
    )
    changed(uow, prior_id)


def implied_roles_of(uow: UnitOfWork, prior_id: str) -> list[Role]:
    return list(uow.session.scalars(
        select(Role).join(ImpliedRole, ImpliedRole.implied_role_id == Role.id)
        .where(ImpliedRole.prior_role_id == prior_id)
    ))


def all_inferences(uow: UnitOfWork) -> list[tuple[Role, list[Role]]]:
    rules = implications(uow)
    roles = {r.id: r for r in uow.session.scalars(select(Role))}
    return [(roles[p], [roles[i] for i in sorted(imps) if i in roles]) for p, imps in rules.items() if p in roles]


# -- assignments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One assignment as the API addresses it."""

    role_id: str
    user_id: str | None = None
    group_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool = False

    @property
    def type(self) -> str:
        if self.system:
            return USER_SYSTEM if self.user_id else GROUP_SYSTEM
        if self.project_id:
            return USER_PROJECT if self.user_id else GROUP_PROJECT
        return USER_DOMAIN if self.user_id else GROUP_DOMAIN

    @property
    def actor_id(self) -> str:
        return self.user_id or self.group_id or ""

    @property
    def target_id(self) -> str:
        return SYSTEM_ALL if self.system else (self.project_id or self.domain_id or "")


def _check_grant(uow: UnitOfWork, grant: Grant) -> Role:
    _check_actor_and_target(uow, grant)
    return get_role(uow, grant.role_id)


def _check_actor_and_target(uow: UnitOfWork, grant: Grant) -> None:
    if grant.user_id:
        get(uow, User, grant.user_id, "user")
    else:
        get(uow, Group, grant.group_id or "", "group")
    if grant.project_id:
        get_project(uow, grant.project_id)
    elif grant.domain_id:
        get_domain(uow, grant.domain_id)


def _key(grant: Grant) -> tuple:
    return (grant.type, grant.actor_id, grant.target_id, grant.role_id, grant.inherited)


def create_grant(uow: UnitOfWork, grant: Grant) -> None:
    role = _check_grant(uow, grant)
    if role.domain_id != NULL_DOMAIN and grant.project_id:
        project = get_project(uow, grant.project_id)
        if project.domain_id != role.domain_id:
            raise Forbidden("Domain-specific roles can only be assigned within their own domain.")
    if uow.session.get(Assignment, _key(grant)) is None:
        uow.session.add(Assignment(type=grant.type, actor_id=grant.actor_id, target_id=grant.target_id,
                                   role_id=grant.role_id, inherited=grant.inherited))
        changed(uow, grant.actor_id)


def check_grant(uow: UnitOfWork, grant: Grant) -> None:
    _check_grant(uow, grant)
    if uow.session.get(Assignment, _key(grant)) is None:
        raise NotFound(f"Could not find role assignment with role: {grant.role_id}, "
                       f"{'user' if grant.user_id else 'group'}: {grant.actor_id}, target: {grant.target_id}.")


def delete_grant(uow: UnitOfWork, grant: Grant) -> None:
    check_grant(uow, grant)
    uow.session.execute(delete(Assignment).where(
        Assignment.type == grant.type, Assignment.actor_id == grant.actor_id,
        Assignment.target_id == grant.target_id, Assignment.role_id == grant.role_id,
        Assignment.inherited == grant.inherited,
    ))
    changed(uow, grant.actor_id)


def list_grants(uow: UnitOfWork, grant: Grant) -> list[Role]:
    """Roles directly granted to an actor on a target (the /projects/{p}/users/{u}/roles API)."""
    _check_actor_and_target(uow, grant)
    rows = uow.session.scalars(select(Assignment.role_id).where(
        Assignment.type == grant.type, Assignment.actor_id == grant.actor_id,
        Assignment.target_id == grant.target_id, Assignment.inherited == grant.inherited,
    )).all()
    if not rows:
        return []
    return list(uow.session.scalars(select(Role).where(Role.id.in_(rows)).order_by(Role.name)))


def _group_ids(uow: UnitOfWork, user_id: str) -> list[str]:
    return list(uow.session.scalars(select(GroupMembership.group_id).where(GroupMembership.user_id == user_id)))


def effective_role_ids(uow: UnitOfWork, user_id: str, *, project: Project | None = None,
                       domain_id: str | None = None, system: bool = False) -> set[str]:
    """Direct, group, inherited and implied roles of a user on one scope."""
    actors = [user_id, *_group_ids(uow, user_id)]
    query = select(Assignment.role_id).where(Assignment.actor_id.in_(actors))
    if project is not None:
        inherited_from = [project.domain_id, *(p.id for p in ancestors(uow, project))]
        query = query.where(
            ((Assignment.target_id == project.id) & (Assignment.inherited.is_(False))
             & Assignment.type.in_((USER_PROJECT, GROUP_PROJECT)))
            | ((Assignment.target_id.in_(inherited_from)) & (Assignment.inherited.is_(True)))
        )
    elif domain_id is not None:
        query = query.where(Assignment.target_id == domain_id, Assignment.inherited.is_(False),
                            Assignment.type.in_((USER_DOMAIN, GROUP_DOMAIN)))
    elif system:
        query = query.where(Assignment.target_id == SYSTEM_ALL, Assignment.type.in_((USER_SYSTEM, GROUP_SYSTEM)))
    else:
        return set()
    direct = set(uow.session.scalars(query))
    return expand_implied(direct, implications(uow)) if direct else set()


def roles_by_id(uow: UnitOfWork, ids: set[str]) -> list[Role]:
    if not ids:
        return []
    return list(uow.session.scalars(select(Role).where(Role.id.in_(ids)).order_by(Role.name)))


def user_projects(uow: UnitOfWork, user_id: str) -> list[Project]:
    """Projects the user has any effective role on (direct, via groups or inherited)."""
    actors = [user_id, *_group_ids(uow, user_id)]
    rows = uow.session.execute(
        select(Assignment.target_id, Assignment.inherited, Assignment.type).where(Assignment.actor_id.in_(actors))
    ).all()
    direct = {t for t, inh, typ in rows if not inh and typ in (USER_PROJECT, GROUP_PROJECT)}
    inherited = {t for t, inh, _ in rows if inh}
    projects = []
    for project in uow.session.scalars(select(Project).order_by(Project.name)):
        if project.id in direct or inherited and (
            project.domain_id in inherited or any(a.id in inherited for a in ancestors(uow, project))
        ):
            projects.append(project)
    return projects


def user_domains(uow: UnitOfWork, user_id: str) -> list[Domain]:
    actors = [user_id, *_group_ids(uow, user_id)]
    ids = set(uow.session.scalars(select(Assignment.target_id).where(
        Assignment.actor_id.in_(actors), Assignment.type.in_((USER_DOMAIN, GROUP_DOMAIN)),
        Assignment.inherited.is_(False),
    )))
    if not ids:
        return []
    return list(uow.session.scalars(select(Domain).where(Domain.id.in_(ids)).order_by(Domain.name)))


@dataclass(frozen=True)
class AssignmentEntry:
    """One row of /v3/role_assignments."""

    role_id: str
    user_id: str | None
    group_id: str | None
    project_id: str | None
    domain_id: str | None
    system: bool
    inherited: bool
    via_group_id: str | None = None  # effective: expanded from this group's assignment
    prior_role_id: str | None = None  # effective: implied by this role


def _entry(a: Assignment) -> AssignmentEntry:
    user = a.type in (USER_PROJECT, USER_DOMAIN, USER_SYSTEM)
    return AssignmentEntry(
        role_id=a.role_id,
        user_id=a.actor_id if user else None,
        group_id=None if user else a.actor_id,
        project_id=a.target_id if a.type in (USER_PROJECT, GROUP_PROJECT) else None,
        domain_id=a.target_id if a.type in (USER_DOMAIN, GROUP_DOMAIN) else None,
        system=a.type in (USER_SYSTEM, GROUP_SYSTEM),
        inherited=a.inherited,
    )


def list_role_assignments(uow: UnitOfWork, filters: dict, effective: bool = False) -> list[AssignmentEntry]:
    """Assignments matching keystone's filters; ``effective`` expands groups, inheritance and implied roles."""
    entries = [_entry(a) for a in uow.session.scalars(select(Assignment))]
    if effective:
        entries = _expand(uow, entries)
    result = []
    for e in entries:
        if "user.id" in filters and e.user_id != filters["user.id"]:
            continue
        if "group.id" in filters and e.group_id != filters["group.id"]:
            continue
        if "role.id" in filters and e.role_id != filters["role.id"]:
            continue
        if "scope.project.id" in filters and e.project_id not in filters["scope.project.id"]:
            continue
        if "scope.domain.id" in filters and (e.domain_id != filters["scope.domain.id"] or e.project_id):
            continue
        if "scope.system" in filters and not e.system:
            continue
        if "scope.OS-INHERIT:inherited_to" in filters and not e.inherited:
            continue
        result.append(e)
    return result


def _expand(uow: UnitOfWork, entries: list[AssignmentEntry]) -> list[AssignmentEntry]:
    members: dict[str, list[str]] = {}
    for gid, uid in uow.session.execute(select(GroupMembership.group_id, GroupMembership.user_id)):
        members.setdefault(gid, []).append(uid)
    projects = list(uow.session.scalars(select(Project)))
    by_parent: dict[str, list[Project]] = {}
    for p in projects:
        by_parent.setdefault(p.parent_id or p.domain_id, []).append(p)

    def subtree(target_id: str) -> list[Project]:
        found, todo = [], list(by_parent.get(target_id, ()))
        while todo:
            project = todo.pop()
            found.append(project)
            todo.extend(by_parent.get(project.id, ()))
        return found

    out: list[AssignmentEntry] = []
    for e in entries:
        users = [(e.user_id, None)] if e.user_id else [(u, e.group_id) for u in members.get(e.group_id or "", [])]
        if e.inherited:
            targets = [(p.id, None) for p in subtree(e.project_id or e.domain_id or "")]
        else:
            targets = [(e.project_id, e.domain_id)]
        for user_id, via in users:
            for project_id, domain_id in targets:
                out.append(AssignmentEntry(e.role_id, user_id, None, project_id, domain_id, e.system, False, via))
    rules = implications(uow)
    implied = []
    for e in out:
        for role_id in expand_implied({e.role_id}, rules) - {e.role_id}:
            implied.append(AssignmentEntry(role_id, e.user_id, None, e.project_id, e.domain_id, e.system, False,
                                           e.via_group_id, prior_role_id=e.role_id))
    unique = {(x.role_id, x.user_id, x.project_id, x.domain_id, x.system): x for x in [*out, *implied]}
    return list(unique.values())
