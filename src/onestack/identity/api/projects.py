from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_bytes, json_response

from ..schemas.projects import CREATE_PROJECT, UPDATE_PROJECT, UPDATE_PROJECT_TAGS
from ..service import resources as svc
from ..service import roles as roles_svc
from ..service.common import split_extra
from ..service.users import get_user
from ..views.common import collection
from ..views.domains import domain as domain_view
from ..views.projects import project as view
from .common import body_of, domain_list_target, query_filters

FILTERS = ("domain_id", "name", "parent_id")
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


def _list_key(req: ApiRequest) -> tuple:
    filters = query_filters(req, FILTERS, ("enabled", "is_domain"), TAG_FILTERS)
    req.enforce("identity:list_projects", domain_list_target(req, filters))
    # The answer depends on the filters and the public URL only (policy above decides who may ask).
    return filters, ("projects", req.base_url, tuple(sorted((k, str(v)) for k, v in filters.items())))


def list_projects(req: ApiRequest):
    filters, key = _list_key(req)
    reads = req.deps.reads
    reads.generation.check()
    body = reads.get(key)
    if body is None:
        generation = reads.generation.value
        with req.deps.uow() as uow:
            body = json_bytes(collection("projects", [view(p, req.base_url) for p in svc.list_projects(uow, filters)],
                                         req.url))
        reads.put(key, body, generation)
    return json_response(body)


def list_projects_inline(req: ApiRequest):
    """``list_projects`` from memory on the event loop, or None (then it runs in a thread)."""
    if req.deps.reads.generation.shared:
        return None
    body = req.deps.reads.get(_list_key(req)[1])
    return None if body is None else json_response(body)


def _target(project) -> dict:
    return {"target.project.id": project.id, "target.project.domain_id": project.domain_id}


def show_project(req: ApiRequest):
    with req.deps.uow() as uow:
        project = svc.get_project(uow, req.params["project_id"])
        req.enforce("identity:get_project", _target(project))
        body = view(project, req.base_url)
        if "parents_as_list" in req.query or "parents_as_ids" in req.query:
            body["parents"] = [{"project": view(p, req.base_url)} for p in svc.ancestors(uow, project)]
        if "subtree_as_list" in req.query or "subtree_as_ids" in req.query:
            body["subtree"] = [{"project": view(p, req.base_url)} for p in svc.subtree(uow, project.id)]
    return json_response({"project": body})


def create_project(req: ApiRequest):
    req.enforce("identity:create_project")
    body = body_of(req, CREATE_PROJECT, "project")
    core, extra = split_extra(body, svc.PROJECT_FIELDS)
    domain_id = core.get("domain_id") or req.ctx.domain_id or req.ctx.project_domain_id
    with req.deps.uow(write=True) as uow:
        if core.get("is_domain"):
            domain = svc.create_domain(uow, svc.CreateDomain(name=core["name"], description=core.get("description"),
                                                             enabled=core.get("enabled", True)))
            out = {**domain_view(domain, req.base_url), "is_domain": True, "domain_id": None, "parent_id": None}
        else:
            project = svc.create_project(uow, svc.CreateProject(
                name=core["name"], domain_id=domain_id if not core.get("parent_id") else core.get("domain_id"),
                parent_id=core.get("parent_id"), description=core.get("description"),
                enabled=core.get("enabled", True), tags=tuple(core.get("tags") or ()),
                options=core.get("options") or {}, extra=extra))
            out = view(project, req.base_url)
    return json_response({"project": out}, 201)


def update_project(req: ApiRequest):
    req.enforce("identity:update_project")
    body = body_of(req, UPDATE_PROJECT, "project")
    with req.deps.uow(write=True) as uow:
        out = view(svc.update_project(uow, req.params["project_id"], body), req.base_url)
    return json_response({"project": out})


def delete_project(req: ApiRequest):
    req.enforce("identity:delete_project")
    with req.deps.uow(write=True) as uow:
        svc.delete_project(uow, req.params["project_id"])
    return empty_response()


def list_user_projects(req: ApiRequest):
    user_id = req.params["user_id"]
    req.enforce("identity:list_user_projects", {"target.user.id": user_id})
    with req.deps.uow() as uow:
        get_user(uow, user_id)
        filters = query_filters(req, ("domain_id", "name"), ("enabled",))
        rows = [p for p in roles_svc.user_projects(uow, user_id)
                if all(getattr(p, k) == v for k, v in filters.items())]
        items = [view(p, req.base_url) for p in rows]
    return json_response(collection("projects", items, req.url))


# -- tags -----------------------------------------------------------------------------------------


def list_project_tags(req: ApiRequest):
    with req.deps.uow() as uow:
        project = svc.get_project(uow, req.params["project_id"])
        req.enforce("identity:list_project_tags", _target(project))
        return json_response({"tags": [t.name for t in project.tags]})


def check_project_tag(req: ApiRequest):
    with req.deps.uow() as uow:
        project = svc.get_project(uow, req.params["project_id"])
        req.enforce("identity:get_project_tag", _target(project))
        if req.params["tag"] not in [t.name for t in project.tags]:
            raise NotFound(f"Could not find project tag: {req.params['tag']}.")
    return empty_response()


def replace_project_tags(req: ApiRequest):
    req.enforce("identity:update_project_tags")
    tags = body_of(req, UPDATE_PROJECT_TAGS, "tags")
    with req.deps.uow(write=True) as uow:
        project = svc.get_project(uow, req.params["project_id"])
        svc.set_project_tags(uow, project, tags)
        out = [t.name for t in project.tags]
    return json_response({"tags": out})


def add_project_tag(req: ApiRequest):
    req.enforce("identity:create_project_tag")
    tag = req.params["tag"]
    if not tag or "," in tag:
        raise BadRequest(f"Invalid tag {tag!r}.")
    with req.deps.uow(write=True) as uow:
        svc.add_project_tag(uow, req.params["project_id"], tag)
    return empty_response(201, {"Location": req.url})


def remove_project_tag(req: ApiRequest):
    req.enforce("identity:delete_project_tag")
    with req.deps.uow(write=True) as uow:
        svc.remove_project_tag(uow, req.params["project_id"], req.params["tag"])
    return empty_response()


def remove_project_tags(req: ApiRequest):
    req.enforce("identity:delete_project_tags")
    with req.deps.uow(write=True) as uow:
        svc.set_project_tags(uow, svc.get_project(uow, req.params["project_id"]), [])
    return empty_response()
