"""Domains and projects (keystone's 'resource' subsystem)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import delete, select

from onestack.core.errors import BadRequest, Forbidden, NotFound
from onestack.core.uow import UnitOfWork

from ..model import Assignment, Domain, Group, ImpliedRole, Limit, Project, ProjectTag, Role, User
from .common import apply, changed, flush_unique, get, split_extra
from .revocations import revoke

DEFAULT_DOMAIN_ID = "default"
PROJECT_FIELDS = ("name", "description", "enabled", "options", "domain_id", "parent_id", "is_domain", "tags")


def get_domain(uow: UnitOfWork, domain_id: str) -> Domain:
    return get(uow, Domain, domain_id, "domain")


def find_domain(uow: UnitOfWork, ref: dict) -> Domain:
    """A domain by ``{"id"}`` or ``{"name"}`` as auth bodies and scopes give it."""
    if ref.get("id"):
        return get_domain(uow, ref["id"])
    if ref.get("name"):
        domain = uow.session.scalars(select(Domain).where(Domain.name == ref["name"])).first()
        if domain is None:
            raise NotFound(f"Could not find domain: {ref['name']}.")
        return domain
    raise BadRequest("Expecting to find id or name in domain.")


def list_domains(uow: UnitOfWork, filters: dict) -> list[Domain]:
    query = select(Domain).order_by(Domain.name)
    if "name" in filters:
        query = query.where(Domain.name == filters["name"])
    if "enabled" in filters:
        query = query.where(Domain.enabled == filters["enabled"])
    return list(uow.session.scalars(query))


@dataclass(frozen=True)
class CreateDomain:
    name: str
    description: str | None = None
    enabled: bool = True
    options: dict = field(default_factory=dict)
    id: str | None = None
    extra: dict = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def _check_tags(tags: list[str]) -> list[str]:
    unique = list(dict.fromkeys(tags))
    if len(unique) > 80:
        raise BadRequest("Invalid input for field 'tags': at most 80 tags are allowed.")
    for tag in unique:
        if not tag or "/" in tag or "," in tag or len(tag) > 255:
            raise BadRequest(f"Invalid input for field 'tags': {tag!r} is not 1-255 characters without '/' or ','.")
    return unique


def create_domain(uow: UnitOfWork, cmd: CreateDomain) -> Domain:
    # Domains have no tag table: their tags live in ``extra`` and the view shows them as ``tags``.
    extra = {**cmd.extra, "tags": _check_tags(list(cmd.tags))} if cmd.tags else cmd.extra
    domain = Domain(name=cmd.name, description=cmd.description, enabled=cmd.enabled, options=cmd.options,
                    extra=extra)
    if cmd.id:
        domain.id = cmd.id
    uow.session.add(domain)
    flush_unique(uow, f"Duplicate entry: a domain named {cmd.name} already exists.")
    return domain


def update_domain(uow: UnitOfWork, domain_id: str, changes: dict) -> Domain:
    domain = get_domain(uow, domain_id)
    core, extra = split_extra(changes, ("name", "description", "enabled", "options"))
    apply(domain, core, ("name", "description", "enabled", "options"))
    if "tags" in extra:
        extra["tags"] = _check_tags(list(extra["tags"] or []))
    if extra:
        domain.extra = {**domain.extra, **extra}
    flush_unique(uow, f"Duplicate entry: a domain named {domain.name} already exists.")
    if core.get("enabled") is False:
        revoke(uow, domain_id=domain.id)
    changed(uow, domain.id)
    return domain


def delete_domain(uow: UnitOfWork, domain_id: str) -> None:
    domain = get_domain(uow, domain_id)
    if domain.enabled:
        raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
    if domain.id == DEFAULT_DOMAIN_ID:
        raise Forbidden("The default domain cannot be deleted.")
    session = uow.session
    projects = session.scalars(select(Project).where(Project.domain_id == domain.id)).all()
    # Children before parents.
    for project in sorted(projects, key=lambda p: -len(ancestors(uow, p))):
        _delete_project_rows(uow, project)
    user_ids = session.scalars(select(User.id).where(User.domain_id == domain.id)).all()
    group_ids = session.scalars(select(Group.id).where(Group.domain_id == domain.id)).all()
    if user_ids or group_ids:
        session.execute(delete(Assignment).where(Assignment.actor_id.in_([*user_ids, *group_ids])))
    session.execute(delete(User).where(User.domain_id == domain.id))
    session.execute(delete(Group).where(Group.domain_id == domain.id))
    session.execute(delete(Assignment).where(Assignment.target_id == domain.id))
    # Domain-specific roles go with their domain, and so do limits on the domain and its projects.
    role_ids = session.scalars(select(Role.id).where(Role.domain_id == domain.id)).all()
    if role_ids:
        session.execute(delete(Assignment).where(Assignment.role_id.in_(role_ids)))
        session.execute(delete(ImpliedRole).where(
            ImpliedRole.prior_role_id.in_(role_ids) | ImpliedRole.implied_role_id.in_(role_ids)))
        session.execute(delete(Role).where(Role.id.in_(role_ids)))
    session.execute(delete(Limit).where(Limit.domain_id == domain.id))
    session.delete(domain)
    revoke(uow, domain_id=domain.id)
    changed(uow, domain.id)


# -- projects -------------------------------------------------------------------------------------


def get_project(uow: UnitOfWork, project_id: str) -> Project:
    return get(uow, Project, project_id, "project")


def find_project(uow: UnitOfWork, ref: dict) -> Project:
    if ref.get("id"):
        return get_project(uow, ref["id"])
    if ref.get("name"):
        if not isinstance(ref.get("domain"), dict):
            raise BadRequest("Expecting to find domain in project.")
        domain = find_domain(uow, ref["domain"])
        project = uow.session.scalars(
            select(Project).where(Project.name == ref["name"], Project.domain_id == domain.id)
        ).first()
        if project is None:
            raise NotFound(f"Could not find project: {ref['name']}.")
        return project
    raise BadRequest("Expecting to find id or name in project.")


def ancestors(uow: UnitOfWork, project: Project) -> list[Project]:
    """Parents of a project, nearest first."""
    chain: list[Project] = []
    parent_id = project.parent_id
    while parent_id:
        parent = uow.session.get(Project, parent_id)
        if parent is None or parent in chain:
            break
        chain.append(parent)
        parent_id = parent.parent_id
    return chain


def children(uow: UnitOfWork, project_id: str) -> list[Project]:
    return list(uow.session.scalars(select(Project).where(Project.parent_id == project_id)))


def subtree(uow: UnitOfWork, project_id: str) -> list[Project]:
    """Every descendant of a project, breadth first."""
    found: list[Project] = []
    todo = [project_id]
    while todo:
        batch = children(uow, todo.pop(0))
        found.extend(p for p in batch if p not in found)
        todo.extend(p.id for p in batch)
    return found


class TagName(NamedTuple):
    name: str


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """A project as lists read it: plain columns, no ORM identity map (what the view needs)."""

    id: str
    name: str
    domain_id: str
    parent_id: str | None
    description: str | None
    enabled: bool
    options: dict
    extra: dict
    tags: tuple[TagName, ...]


_PROJECT_COLUMNS = (Project.id, Project.name, Project.domain_id, Project.parent_id, Project.description,
                    Project.enabled, Project.options, Project.extra)

_LIST_PROJECTS = (select(*_PROJECT_COLUMNS, ProjectTag.name)  # built once: statement construction is costly
                  .outerjoin(ProjectTag, ProjectTag.project_id == Project.id)
                  .order_by(Project.name, Project.id, ProjectTag.name))


def list_projects(uow: UnitOfWork, filters: dict) -> list[ProjectRow]:
    """One query (projects outer-joined with their tags) on the hot path of every project list."""
    if filters.get("is_domain") is True:
        return []
    query = _LIST_PROJECTS
    for key in ("domain_id", "name", "enabled"):
        if key in filters:
            query = query.where(getattr(Project, key) == filters[key])
    if "parent_id" in filters:
        parent = filters["parent_id"]
        top_level = Project.parent_id.is_(None) & (Project.domain_id == parent)
        query = query.where((Project.parent_id == parent) | top_level)
    rows: dict[str, list] = {}
    for *columns, tag in uow.session.execute(query):
        entry = rows.get(columns[0])
        if entry is None:
            entry = rows[columns[0]] = [columns, []]
        if tag is not None:
            entry[1].append(TagName(tag))
    projects = [ProjectRow(*columns[:6], columns[6] or {}, columns[7] or {}, tuple(tags))
                for columns, tags in rows.values()]
    return [p for p in projects if _tags_match(p, filters)]


def _tags_match(project: Project | ProjectRow, filters: dict) -> bool:
    tags = {t.name for t in project.tags}
    if "tags" in filters and not set(filters["tags"]) <= tags:
        return False
    if "tags-any" in filters and not set(filters["tags-any"]) & tags:
        return False
    if "not-tags" in filters and set(filters["not-tags"]) <= tags:
        return False
    return not ("not-tags-any" in filters and set(filters["not-tags-any"]) & tags)


@dataclass(frozen=True)
class CreateProject:
    name: str
    domain_id: str | None = None
    parent_id: str | None = None
    description: str | None = None
    enabled: bool = True
    tags: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    id: str | None = None


def create_project(uow: UnitOfWork, cmd: CreateProject) -> Project:
    domain_id, parent_id = cmd.domain_id, cmd.parent_id
    if parent_id:
        parent = get(uow, Project, parent_id, "project") if parent_id != domain_id else None
        if parent is None:
            # A parent_id naming the domain means a top-level project, as keystone allows.
            get_domain(uow, parent_id)
            domain_id, parent_id = parent_id, None
        else:
            if domain_id and domain_id != parent.domain_id:
                raise BadRequest("Cannot create project, the parent project is in a different domain.")
            domain_id = parent.domain_id
    domain = get_domain(uow, domain_id or DEFAULT_DOMAIN_ID)
    project = Project(
        name=cmd.name,
        domain_id=domain.id,
        parent_id=parent_id,
        description=cmd.description,
        enabled=cmd.enabled,
        options=cmd.options,
        extra=cmd.extra,
    )
    if cmd.id:
        project.id = cmd.id
    uow.session.add(project)
    flush_unique(uow, f"Duplicate entry: a project named {cmd.name} already exists in domain {domain.id}.")
    if cmd.tags:
        set_project_tags(uow, project, list(cmd.tags))
    return project


def update_project(uow: UnitOfWork, project_id: str, changes: dict) -> Project:
    project = get_project(uow, project_id)
    core, extra = split_extra(changes, PROJECT_FIELDS)
    if "domain_id" in core and core["domain_id"] != project.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    if "parent_id" in core and core["parent_id"] != (project.parent_id or project.domain_id):
        raise Forbidden("Update of `parent_id` is not allowed.")
    if "is_domain" in core and core["is_domain"]:
        raise BadRequest("Update of `is_domain` is not allowed.")
    enabling, disabling = core.get("enabled") is True, core.get("enabled") is False
    if enabling and not project.enabled and any(not parent.enabled for parent in ancestors(uow, project)):
        raise Forbidden(f"Cannot enable project {project.id} since it has disabled parents.")
    if disabling and project.enabled and any(p.enabled for p in subtree(uow, project.id)):
        raise Forbidden(f"Cannot disable project {project.id} since its subtree contains enabled projects.")
    apply(project, core, ("name", "description", "enabled", "options"))
    if "tags" in core:
        set_project_tags(uow, project, core["tags"])
    if extra:
        project.extra = {**project.extra, **extra}
    flush_unique(uow, f"Duplicate entry: a project named {project.name} already exists.")
    if core.get("enabled") is False:
        revoke(uow, project_id=project.id)
    changed(uow, project.id)
    return project


def delete_project(uow: UnitOfWork, project_id: str) -> None:
    project = get_project(uow, project_id)
    if children(uow, project.id):
        raise Forbidden(
            f"Cannot delete the project {project.id} since it is not a leaf in the hierarchy. "
            "Delete its children first."
        )
    _delete_project_rows(uow, project)
    changed(uow, project.id)


def _delete_project_rows(uow: UnitOfWork, project: Project) -> None:
    uow.session.execute(delete(Assignment).where(Assignment.target_id == project.id))
    uow.session.execute(delete(Limit).where(Limit.project_id == project.id))
    uow.session.delete(project)
    uow.session.flush()
    revoke(uow, project_id=project.id)


def set_project_tags(uow: UnitOfWork, project: Project, tags: list[str]) -> None:
    unique = _check_tags(tags)
    # Diff rather than replace: a deleted and re-added tag would share a primary key in one flush.
    for row in [t for t in project.tags if t.name not in unique]:
        project.tags.remove(row)
    present = {t.name for t in project.tags}
    project.tags.extend(ProjectTag(name=t) for t in unique if t not in present)
    uow.session.flush()


def add_project_tag(uow: UnitOfWork, project_id: str, tag: str) -> Project:
    project = get_project(uow, project_id)
    set_project_tags(uow, project, [t.name for t in project.tags] + [tag])
    return project


def remove_project_tag(uow: UnitOfWork, project_id: str, tag: str) -> None:
    project = get_project(uow, project_id)
    names = [t.name for t in project.tags]
    if tag not in names:
        raise NotFound(f"Could not find project tag: {tag}.")
    set_project_tags(uow, project, [t for t in names if t != tag])
