"""Image records: list, create, show, update (JSON Patch), delete, deactivate/reactivate, tags."""

from __future__ import annotations

import datetime as dt
import json

from onestack.core.errors import BadRequest, Forbidden, MethodNotAllowed, UnsupportedMediaType
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from ..schemas.images import CREATE_IMAGE, image_schema
from ..service import data as data_svc
from ..service import images as svc
from ..views import images as views
from .common import enforce, load, no_resource, parse_bool, trailing_slash

PATCH_TYPES = {"application/openstack-images-v2.0-json-patch": 4,
               "application/openstack-images-v2.1-json-patch": 10}
STRING_FILTERS = ("name", "status", "id", "owner", "disk_format", "container_format", "checksum",
                  "os_hash_value", "visibility")
INT_FILTERS = ("size", "virtual_size", "min_disk", "min_ram")
TIME_FILTERS = ("created_at", "updated_at")
TIME_OPS = ("eq", "neq", "gt", "gte", "lt", "lte")
RESERVED_QUERY = ("limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "tag", "size_min",
                  "size_max", "os_hidden", "protected", "visibility")


def _headers(req: ApiRequest) -> dict:
    return {"OpenStack-image-import-methods": ",".join(data_svc.import_methods(req.deps)),
            "OpenStack-image-store-ids": req.deps.store.id}


# -- list -----------------------------------------------------------------------------------------


def _split_in(value: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if quoted:
        raise BadRequest("Invalid filter value: unbalanced quotes.")
    out.append(cur)
    return out


def _string_cond(key: str, value: str) -> svc.Cond:
    if value.startswith("in:"):
        return svc.Cond(key, "in", _split_in(value[3:]))
    if value.startswith("eq:"):
        value = value[3:]
    return svc.Cond(key, "eq", value)


def _time_cond(key: str, value: str) -> svc.Cond:
    op, sep, when = value.partition(":")
    if not sep or op not in TIME_OPS:
        raise BadRequest(f"Unable to filter on a unknown operator '{op}'." if sep else
                         f"Invalid {key} filter '{value}': use <operator>:<ISO 8601 time>.")
    try:
        moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid time format for {key}: {when!r}.") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return svc.Cond(key, op, moment)


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Unable to filter on a range with a non-numeric value: {name}={value!r}.") from None


def _sorting(req: ApiRequest) -> tuple[tuple[str, ...], tuple[str, ...]]:
    q = req.query
    keys: list[str] = []
    dirs: list[str] = []
    if "sort" in q:
        if "sort_key" in q or "sort_dir" in q:
            raise BadRequest("Old and new sorting syntax cannot be combined")
        for part in q["sort"].strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(key.strip())
            dirs.append(direction.strip() or "desc")
    else:
        keys = [k.strip() for k in q.getlist("sort_key")]
        dirs = [d.strip() for d in q.getlist("sort_dir")]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Number of sort dirs does not match the number of sort keys")
    for key in keys:
        if key not in svc.SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: "
                             f"{', '.join(svc.SORT_KEYS)}.")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    return tuple(keys or ["created_at"]), tuple(dirs or ["desc"])


def _list_query(req: ApiRequest) -> svc.ListImages:
    q = req.query
    settings = req.deps.settings
    conds: list[svc.Cond] = []
    props: list[tuple[str, str]] = []
    visibility = q.get("visibility")
    if visibility is not None and visibility not in (*svc.VISIBILITIES, "all"):
        raise BadRequest(f"Invalid visibility value: {visibility}")
    member_status = q.get("member_status", "accepted")
    if member_status not in (*svc.MEMBER_STATUSES, "all"):
        raise BadRequest(f"Invalid status: {member_status}")
    if "changes-since" in q:
        raise BadRequest('The "changes-since" filter is no longer available on v2.')
    for key, value in q.multi_items():
        if key in RESERVED_QUERY:
            continue
        if key in STRING_FILTERS:
            conds.append(_string_cond(key, value))
        elif key in INT_FILTERS:
            conds.append(svc.Cond(key, "eq", _int(key, value)))
        elif key in TIME_FILTERS:
            conds.append(_time_cond(key, value))
        else:
            props.append((key, value))
    if "size_min" in q:
        conds.append(svc.Cond("size", "gte", _int("size_min", q["size_min"])))
    if "size_max" in q:
        conds.append(svc.Cond("size", "lte", _int("size_max", q["size_max"])))
    if "protected" in q:
        conds.append(svc.Cond("protected", "eq", parse_bool("protected", q["protected"])))
    os_hidden = parse_bool("os_hidden", q["os_hidden"]) if "os_hidden" in q else False
    if os_hidden:
        conds.append(svc.Cond("os_hidden", "eq", True))
    limit = settings.limit_param_default
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise BadRequest("limit param must be positive")
    keys, dirs = _sorting(req)
    return svc.ListImages(conds=tuple(conds), properties=tuple(props), tags=tuple(t.strip() for t in q.getlist("tag")),
                          visibility=visibility, member_status=member_status, os_hidden=os_hidden,
                          sort_keys=keys, sort_dirs=dirs, limit=min(limit, settings.api_limit_max),
                          marker=q.get("marker"))


def list_images(req: ApiRequest):
    if trailing_slash(req):  # GET /v2/images/ names no image
        raise no_resource()
    req.enforce("get_images", {"project_id": req.ctx.project_id})
    query = _list_query(req)
    with req.deps.uow() as uow:
        rows, next_marker = svc.list_images(uow, req.ctx, query)
        rows = [r for r in rows if req.allowed("get_image", svc.policy_target(req.ctx, r))]
        body = views.images(rows, list(req.query.multi_items()), next_marker)
    return json_response(body)


# -- create / show --------------------------------------------------------------------------------


def create_image(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict):
        raise BadRequest("Image creation expects a JSON object.")
    for key in svc.DISALLOWED_ON_CREATE:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    validate(CREATE_IMAGE, body)
    for key in svc.READ_ONLY:
        if key in body and key != "id":
            raise Forbidden(f"Attribute '{key}' is read-only.")
    extra = {k: v for k, v in body.items() if k not in svc.CORE and k != "locations"}
    if "locations" in body:
        raise Forbidden("Attribute 'locations' is reserved.")
    for key in extra:
        if len(key) > 255:
            raise BadRequest("Custom property should not be greater than 255 characters.")
        if key in svc.RESERVED or key.startswith(svc.RESERVED_NAMESPACE):
            raise Forbidden(f"Attribute '{key}' is reserved.")
    owner = body.get("owner") or req.ctx.project_id
    visibility = body.get("visibility") or "shared"
    target = {"project_id": owner, "owner": owner, "visibility": visibility}
    req.enforce("add_image", target)
    if visibility == "public":
        req.enforce("publicize_image", target)
    if visibility == "community":
        req.enforce("communitize_image", target)
    cmd = svc.CreateImage(
        owner=owner, id=body.get("id"), name=body.get("name"), disk_format=body.get("disk_format"),
        container_format=body.get("container_format"), visibility=visibility,
        protected=body.get("protected", False), os_hidden=body.get("os_hidden", False),
        min_disk=body.get("min_disk", 0), min_ram=body.get("min_ram", 0), tags=tuple(body.get("tags") or ()),
        properties=extra)
    limit = req.deps.limit("image_count_total", owner)
    with req.deps.uow(write=True) as uow:
        image = svc.create_image(uow, req.deps.settings, cmd, limit)
        out = views.image(image)
    headers = {"Location": f"{req.base_url}/image/v2/images/{out['id']}", **_headers(req)}
    return json_response(out, 201, headers)


def show_image(req: ApiRequest):
    with req.deps.uow() as uow:
        out = views.image(load(req, uow))
    return json_response(out, headers=_headers(req))


# -- update ---------------------------------------------------------------------------------------


def _pointer(path) -> str:
    if not isinstance(path, str):
        raise BadRequest("Invalid JSON pointer: a string is expected.")
    if not path.startswith("/"):
        raise BadRequest(f'Pointer `{path}` does not start with "/".')
    parts = path[1:].split("/")
    if any(p.strip() == "" for p in parts):
        raise BadRequest(f'Pointer `{path}` contains adjacent "/".' if len(parts) > 1
                         else f"Pointer `{path}` does not contains valid token.")
    if len(parts) != 1:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return parts[0].replace("~1", "/").replace("~0", "~").strip()


def _changes(req: ApiRequest) -> list[svc.Change]:
    ctype = req.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in PATCH_TYPES:
        allowed = ", ".join(sorted(PATCH_TYPES))
        raise UnsupportedMediaType(f"Image PATCH expects Content-Type one of: {allowed}",
                                   headers={"Accept-Patch": allowed})
    draft = PATCH_TYPES[ctype]
    if not req.body:
        raise BadRequest("Body expected in request.")
    try:
        body = json.loads(req.body)
    except ValueError:
        raise BadRequest("Malformed JSON in request body.") from None
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    schema = image_schema()
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise BadRequest("Operations must be JSON objects.")
        if draft == 10:
            op = raw.get("op")
            if op not in ("add", "remove", "replace"):
                raise BadRequest(f"Invalid operation: `{op}`. It must be one of the following: add, remove, replace.")
            if "path" not in raw:
                raise BadRequest("Unable to find 'path' in JSON Schema change")
            path = raw["path"]
        else:
            ops = [k for k in ("add", "remove", "replace") if k in raw]
            if len(ops) != 1:
                raise BadRequest('Operation objects must contain exactly one member named "add", "remove", '
                                 'or "replace".')
            op = ops[0]
            path = raw[op]
        key = _pointer(path)
        if op != "remove" and "value" not in raw:
            raise BadRequest(f'Operation "{op}" requires a member named "value".')
        if key in svc.READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.")
        if key in svc.RESERVED or key.startswith(svc.RESERVED_NAMESPACE) or key == "locations":
            if key == "locations":
                raise Forbidden("It's not allowed to update locations if locations are invisible.")
            raise Forbidden(f"Attribute '{key}' is reserved.")
        value = raw.get("value")
        if op != "remove":
            validate(schema, {key: value})
        changes.append(svc.Change(op=op, path=key, value=value, draft4=draft == 4))
    return changes


def update_image(req: ApiRequest):
    changes = _changes(req)
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        enforce(req, "modify_image", image)
        for ch in changes:
            if ch.path == "owner" and ch.op != "remove" and not req.ctx.is_admin:
                raise Forbidden("Owner can't be updated by non admin.")
            if ch.path == "visibility" and ch.op != "remove":
                if ch.value == "public":
                    enforce(req, "publicize_image", image)
                elif ch.value == "community":
                    enforce(req, "communitize_image", image)
        image = svc.update_image(uow, req.deps.settings, image, changes)
        out = views.image(image)
    return json_response(out)


# -- delete, deactivate, reactivate ---------------------------------------------------------------


def delete_image(req: ApiRequest):
    deps = req.deps
    with deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        enforce(req, "delete_image", image)
        svc.delete_image(uow, image, lambda image_id: data_svc.delete_data(deps, image_id))
    return empty_response(204)


def delete_without_id(req: ApiRequest):
    if trailing_slash(req):  # DELETE /v2/images/ names no image
        raise no_resource()
    raise MethodNotAllowed("The method DELETE is not allowed for the requested URL.", headers={"Allow": "GET, POST"})


def deactivate_image(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        enforce(req, "deactivate", image)
        svc.deactivate_image(uow, image)
    return empty_response(204)


def reactivate_image(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        enforce(req, "reactivate", image)
        svc.reactivate_image(uow, image)
    return empty_response(204)


# -- tags -----------------------------------------------------------------------------------------


def add_tag(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        enforce(req, "modify_image", image)
        svc.add_tag(uow, req.deps.settings, image, req.params["tag"])
    return empty_response(204)


def delete_tag(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        image = load(req, uow, lock=True)
        enforce(req, "modify_image", image)
        svc.delete_tag(uow, image, req.params["tag"])
    return empty_response(204)
