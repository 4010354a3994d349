from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import uuid
from urllib.parse import urlencode

from sqlalchemy import select

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.pagination import parse_limit

from .. import states
from ..model import ServerGroupMember
from ..schemas import servers as schemas
from ..service import block_devices as bd
from ..service import hosts as hosts_svc
from ..service import servers as svc
from ..views import servers as views
from ..views.common import V21, links
from . import boot_volumes
from .common import MAX_LIMIT, body_of, by_version, parse_bool, parse_time, target


def caller(req: ApiRequest) -> svc.Caller:
    return svc.Caller(project_id=req.ctx.project_id or "", user_id=req.ctx.user_id or "",
                      request_id=req.ctx.request_id, admin=req.allowed("context_is_admin"), roles=req.ctx.roles)


def authorized_server(req: ApiRequest, uow, rule: str, lock: bool = False):
    """The server of the path (``server_id``) that the caller may see, after enforcing ``rule`` on its owner."""
    row = svc.get_server(uow, caller(req), req.params["server_id"], lock=lock)
    req.enforce(rule, target(row.project_id, row.user_id))
    return row


def _csv(req: ApiRequest, name: str) -> tuple[str, ...]:
    return tuple(t for v in req.query.getlist(name) for t in v.split(",") if t)


def _filters(req: ApiRequest, who: svc.Caller, detail: bool) -> svc.ServerFilter:
    q = req.query
    project = who.project_id
    if who.admin and "all_tenants" in q and (q["all_tenants"] == "" or parse_bool("all_tenants", q["all_tenants"])):
        req.enforce(f"os_compute_api:servers:{'detail' if detail else 'index'}:get_all_tenants")
        project = q.get("project_id") or q.get("tenant_id") or None
    elif who.admin and (q.get("project_id") or q.get("tenant_id")):
        project = q.get("project_id") or q.get("tenant_id")
    admin_only = {}
    if who.admin:
        admin_only = {"host": q.get("host"), "deleted": parse_bool("deleted", q["deleted"]) if "deleted" in q
                      else False, "user_id": q.get("user_id")}
    status = _csv(req, "status")
    if "deleted" in q and who.admin and admin_only.get("deleted"):
        status = status or ()
    locked = None
    if "locked" in q and req.version.matches("2.73"):
        locked = parse_bool("locked", q["locked"])
    tags = {}
    if req.version.matches("2.26"):
        tags = {"tags": _csv(req, "tags"), "tags_any": _csv(req, "tags-any"), "not_tags": _csv(req, "not-tags"),
                "not_tags_any": _csv(req, "not-tags-any")}
    image = q.get("image")
    if image and "/" in image:
        image = image.rstrip("/").rsplit("/", 1)[1]
    flavor = q.get("flavor")
    if flavor and "/" in flavor:
        flavor = flavor.rstrip("/").rsplit("/", 1)[1]
    return svc.ServerFilter(
        project_id=project, name=q.get("name") or q.get("display_name"), status=status,
        changes_since=parse_time("changes-since", q["changes-since"]) if "changes-since" in q else None,
        changes_before=parse_time("changes-before", q["changes-before"]) if "changes-before" in q
        and req.version.matches("2.66") else None,
        image=image, flavor=flavor, availability_zone=q.get("availability_zone"), key_name=q.get("key_name"),
        reservation_id=q.get("reservation_id"), locked=locked, ip=q.get("ip") or None,
        ip6=(q.get("ip6") or None) if who.admin or req.version.matches("2.5") else None, **tags, **admin_only)


def _sort(req: ApiRequest, admin: bool) -> tuple[tuple[str, str], ...]:
    keys = req.query.getlist("sort_key")
    dirs = req.query.getlist("sort_dir")
    out = []
    for i, key in enumerate(keys):
        if key not in svc.SORT_KEYS:
            raise BadRequest(f"Invalid sort_key {key}")
        direction = dirs[i] if i < len(dirs) else (dirs[-1] if dirs else "desc")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir {direction}")
        out.append((key, direction))
    return tuple(out) or (("created_at", "desc"),)


def _host_status(statuses: dict[str, str], host: str | None) -> str:
    """``statuses``: ``hosts_svc.host_statuses``."""
    if not host:
        return ""
    return statuses.get(host, "UNKNOWN")


def _render(req: ApiRequest, uow, rows, detail: bool, who: svc.Caller) -> list[dict]:
    if not detail:
        return [views.summary(r, req.base_url) for r in rows]
    specs = req.allowed("os_compute_api:servers:show:flavor-extra-specs", target(req.ctx.project_id))
    show_status = who.admin and req.version.matches("2.16")
    services = hosts_svc.host_statuses(uow) if show_status else {}
    tags = svc.tags_of(uow, [r.id for r in rows]) if req.version.matches("2.26") else {}
    return [views.server(r, req.base_url, req.version, admin=who.admin, extra_specs=specs,
                         show_host_status=show_status, host_status=_host_status(services, r.host),
                         tags=tags.get(r.id, [])) for r in rows]


def _list(req: ApiRequest, detail: bool):
    req.enforce(f"os_compute_api:servers:{'detail' if detail else 'index'}", target(req.ctx.project_id))
    who = caller(req)
    flt = _filters(req, who, detail)
    limit = parse_limit(req.query.get("limit"), MAX_LIMIT)
    if limit is None:
        limit = MAX_LIMIT
    with req.deps.uow() as uow:
        rows = svc.list_servers(uow, flt, limit, req.query.get("marker"), _sort(req, who.admin), rows=True)
        body: dict = {"servers": _render(req, uow, rows, detail, who)}
        last = rows[-1].id if rows else None
    if rows and len(rows) == limit:
        params = {k: v for k, v in req.query.multi_items() if k != "marker"}
        params["limit"] = str(limit)
        params["marker"] = last
        path = "servers/detail" if detail else "servers"
        body["servers_links"] = [{"rel": "next", "href": f"{req.base_url}{V21}/{path}?{urlencode(params)}"}]
    return json_response(body)


def list_servers(req: ApiRequest):
    return _list(req, False)


def list_servers_detail(req: ApiRequest):
    return _list(req, True)


def show_server(req: ApiRequest):
    who = caller(req)
    with req.deps.uow() as uow:
        row = svc.get_server(uow, who, req.params["server_id"])
        req.enforce("os_compute_api:servers:show", target(row.project_id, row.user_id))
        groups = list(uow.session.scalars(select(ServerGroupMember.group_id).where(
            ServerGroupMember.instance_id == row.id)))
        show_status = who.admin and req.version.matches("2.16")
        services = hosts_svc.host_statuses(uow) if show_status else {}
        body = views.server(row, req.base_url, req.version, admin=who.admin,
                            extra_specs=req.allowed("os_compute_api:servers:show:flavor-extra-specs",
                                                    target(row.project_id)),
                            show_host_status=show_status, host_status=_host_status(services, row.host),
                            group_ids=groups)
    return json_response({"server": body})


def _create_schema(req: ApiRequest) -> dict:
    return by_version(req, ("2.1", schemas.CREATE_SERVER), ("2.19", schemas.CREATE_SERVER_V2_19),
                      ("2.37", schemas.CREATE_SERVER_V2_37), ("2.52", schemas.CREATE_SERVER_V2_52),
                      ("2.57", schemas.CREATE_SERVER_V2_57), ("2.74", schemas.CREATE_SERVER_V2_74),
                      ("2.90", schemas.CREATE_SERVER_V2_90), ("2.94", schemas.CREATE_SERVER_V2_94))


def _count(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute {name}.") from None
    if number < 1:
        raise BadRequest(f"Invalid input for field/attribute {name}: must be >= 1")
    return number


def _image_id(ref: str | None) -> str:
    if not ref:
        return ""
    return ref.rstrip("/").rsplit("/", 1)[-1]


def _check_image(req: ApiRequest, image_id: str) -> dict | None:
    """The image's size, min_disk and min_ram (for the flavor check), once it is known to be usable."""
    image_client = req.deps.image
    if image_client is None or not image_id:
        return None
    facts = image_client.boot_facts(req.ctx, image_id)
    if facts is None:
        raise BadRequest(f"Image {image_id} could not be found.")
    if facts["status"] != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    return facts


def _networks(req: ApiRequest, raw):
    if raw is None:  # before 2.37: every available network, or none when there is none (as Nova)
        return "default" if req.deps.network is not None else "none"
    if isinstance(raw, str):
        return raw if req.deps.network is not None else "none"
    if req.deps.network is None:
        if raw:
            raise BadRequest("Networking is not available in this cloud: request networks 'none' or 'auto'.")
        return "none"
    out = []
    # a network's device tag: from 2.32, dropped by mistake at 2.37, back at 2.42 (as Nova's schemas)
    tags_allowed = req.version.matches("2.32", "2.36") or req.version.matches("2.42")
    for i, item in enumerate(raw):
        if "tag" in item and not tags_allowed:
            raise BadRequest(f"Invalid input for field 'server/networks/{i}': Additional properties are not "
                             f"allowed ('tag' was unexpected)")
        if not item.get("uuid") and not item.get("port"):
            raise BadRequest("Bad networks format: network uuid is not in proper format")
        for key in ("uuid", "port"):
            if item.get(key) and not _is_uuid(item[key]):
                raise BadRequest(f"Bad networks format: {'network uuid' if key == 'uuid' else 'port id'} "
                                 f"{item[key]!r} is not in proper format")
        if item.get("fixed_ip"):
            try:
                ipaddress.ip_address(item["fixed_ip"])
            except ValueError:
                raise BadRequest(f"Invalid fixed IP address ({item['fixed_ip']})") from None
        out.append({k: v for k, v in item.items() if v is not None})
    try:  # as Nova: an unknown network or port is the request's fault, not a failed build
        req.deps.network.check_requested_networks(req.ctx, out)
    except NotFound as exc:
        item = next((i for i in out if i.get("port") and i["port"] in str(exc)), None)
        if item is not None:
            raise BadRequest(f"Port id {item['port']} could not be found.") from None
        item = next((i for i in out if i.get("uuid") and i["uuid"] in str(exc)), out[0])
        raise BadRequest(f"Network {item.get('uuid') or item.get('port')} could not be found.") from None
    return out


def _security_groups(req: ApiRequest, raw: list | None) -> tuple[str, ...]:
    """The requested groups' names or ids (duplicates dropped), each one the project can use (as Nova: an
    unknown group is the request's fault, 400, not a failed build)."""
    names = tuple(dict.fromkeys(g["name"] for g in raw or ()))
    if names and names != ("default",) and req.deps.network is not None:
        try:
            req.deps.network.get_security_groups(req.ctx, list(names))
        except NotFound as exc:
            name = next((n for n in names if n in str(exc)), names[0])
            raise BadRequest(f"Security group {name} not found.") from None
    return names


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def create_server(req: ApiRequest):
    req.enforce("os_compute_api:servers:create", target(req.ctx.project_id, req.ctx.user_id))
    body = body_of(req, _create_schema(req))
    server = body["server"]
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    image_id = _image_id(server.get("imageRef"))
    bdms, image_root = bd.parse_boot_mappings(list(server.get("block_device_mapping_v2") or ()), image_id)
    if not image_root and not any(b["boot_index"] == 0 for b in bdms):
        raise BadRequest("Missing imageRef attribute")
    image_id = image_id if image_root else ""  # a volume-backed server shows no image, as Nova
    if server.get("user_data"):
        try:
            base64.b64decode(server["user_data"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.") from None
    image = _check_image(req, image_id)
    zone, forced_host = server.get("availability_zone"), None
    if zone and ":" in zone:
        req.enforce("os_compute_api:servers:create:forced_host", target(req.ctx.project_id))
        zone, _, forced_host = zone.partition(":")
        forced_host = forced_host.split(":")[0] or None
        zone = zone or None
    if server.get("host"):
        req.enforce("os_compute_api:servers:create:requested_destination", target(req.ctx.project_id))
        forced_host = server["host"]
    config_drive = server.get("config_drive")
    if isinstance(config_drive, str):
        config_drive = parse_bool("config_drive", config_drive) if config_drive else False
    cmd = svc.CreateServer(
        name=server["name"], flavor_id=str(server["flavorRef"]).rstrip("/").rsplit("/", 1)[-1], image_ref=image_id,
        networks=_networks(req, server.get("networks")), key_name=server.get("key_name"),
        user_data=server.get("user_data"), metadata=server.get("metadata") or {}, tags=tuple(server.get("tags") or ()),
        description=server.get("description"), hostname=server.get("hostname"),
        min_count=_count(server.get("min_count", 1), "min_count"),
        max_count=_count(server.get("max_count", server.get("min_count", 1)), "max_count"),
        availability_zone=zone, scheduler_hints=hints,
        security_groups=_security_groups(req, server.get("security_groups")), block_devices=tuple(bdms),
        config_drive=bool(config_drive), access_ip_v4=access_ip(server.get("accessIPv4"), 4),
        access_ip_v6=access_ip(server.get("accessIPv6"), 6), forced_host=forced_host, image=image,
        zero_disk_allowed=lambda: req.allowed(svc.ZERO_DISK_FLAVOR, target(req.ctx.project_id, req.ctx.user_id)))
    default_zone = req.deps.settings.compute.default_availability_zone
    who = caller(req)
    cmd = boot_volumes.reserve(req, cmd, _check_image)
    try:
        with req.deps.uow(write=True) as uow:
            rows, reservation = svc.create_servers(
                uow, who, cmd, req.deps.limit,
                lambda: set(hosts_svc.host_zones(uow, default_zone).values()) | {default_zone}, default_zone)
    except Exception:
        boot_volumes.unreserve(req, cmd)
        raise
    first = rows[0]
    location = {"Location": f"{req.base_url}{V21}/servers/{first.id}"}
    if parse_bool("return_reservation_id", str(server.get("return_reservation_id", "false"))):
        return json_response({"reservation_id": reservation}, 202, location)
    out = {"id": first.id, "links": links(req.base_url, "servers", first.id),
           "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": g["name"]} for g in first.security_groups],
           "adminPass": server.get("adminPass") or _password()}
    return json_response({"server": out}, 202, location)


def access_ip(value: str | None, version: int) -> str:
    """Nova keeps accessIPv4/v6 normalized (IPv6 compressed); invalid addresses are 400."""
    if not value:
        return ""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute accessIPv{version}: {value!r} is not an IPv{version} "
                         "address") from None
    if parsed.version != version:
        raise BadRequest(f"Invalid input for field/attribute accessIPv{version}: {value!r} is not an IPv{version} "
                         "address")
    return parsed.compressed


def _password() -> str:
    return secrets.token_urlsafe(9)


def update_server(req: ApiRequest):
    who = caller(req)
    schema = by_version(req, ("2.1", schemas.UPDATE_SERVER), ("2.19", schemas.UPDATE_SERVER_V2_19),
                        ("2.90", schemas.UPDATE_SERVER_V2_90))
    changes = body_of(req, schema, "server")
    for key, version in (("accessIPv4", 4), ("accessIPv6", 6)):
        if key in changes:
            changes[key] = access_ip(changes[key], version)
    with req.deps.uow(write=True) as uow:
        row = svc.get_server(uow, who, req.params["server_id"])
        req.enforce("os_compute_api:servers:update", target(row.project_id, row.user_id))
        row = svc.update_server(uow, who, row.id, changes)
        body = views.server(row, req.base_url, req.version, admin=who.admin,
                            minimal=not req.version.matches("2.75"))
    return json_response({"server": body})


def delete_server(req: ApiRequest):
    who = caller(req)
    with req.deps.uow(write=True) as uow:
        row = svc.get_server(uow, who, req.params["server_id"], lock=True)
        req.enforce("os_compute_api:servers:delete", target(row.project_id, row.user_id))
        svc.delete_server(uow, who, row.id, instance=row)
        released = boot_volumes.forget(uow, row) if row.deleted else []  # never reached a host
        server_id = row.id
    boot_volumes.release(req, server_id, released)
    return empty_response(204)


# -- metadata ---------------------------------------------------------------------------------------


def _server_for(req: ApiRequest, uow, rule: str):
    row = svc.get_server(uow, caller(req), req.params["server_id"])
    req.enforce(rule, target(row.project_id, row.user_id))
    return row


def list_metadata(req: ApiRequest):
    with req.deps.uow() as uow:
        row = _server_for(req, uow, "os_compute_api:server-metadata:index")
        return json_response({"metadata": dict(row.metadata_ or {})})


def show_metadata(req: ApiRequest):
    key = req.params["key"]
    with req.deps.uow() as uow:
        row = _server_for(req, uow, "os_compute_api:server-metadata:show")
        if key not in (row.metadata_ or {}):
            raise NotFound("Metadata item was not found")
        return json_response({"meta": {key: row.metadata_[key]}})


def _set_metadata(req: ApiRequest, replace: bool, rule: str):
    items = body_of(req, schemas.METADATA, "metadata")
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, rule)
        merged = svc.set_metadata(uow, caller(req), req.params["server_id"], items, replace, req.deps.limit)
    return json_response({"metadata": merged})


def update_metadata(req: ApiRequest):
    return _set_metadata(req, False, "os_compute_api:server-metadata:create")


def replace_metadata(req: ApiRequest):
    return _set_metadata(req, True, "os_compute_api:server-metadata:update_all")


def update_metadata_item(req: ApiRequest):
    meta = body_of(req, schemas.METADATA_ITEM, "meta")
    key = req.params["key"]
    if key not in meta:
        raise BadRequest("Request body and URI mismatch")
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, "os_compute_api:server-metadata:update")
        svc.set_metadata(uow, caller(req), req.params["server_id"], meta, False, req.deps.limit)
    return json_response({"meta": meta})


def delete_metadata_item(req: ApiRequest):
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, "os_compute_api:server-metadata:delete")
        svc.delete_metadata(uow, caller(req), req.params["server_id"], req.params["key"])
    return empty_response(204)


# -- tags -------------------------------------------------------------------------------------------


def _tags_version(req: ApiRequest) -> None:
    if not req.version.matches("2.26"):
        raise NotFound("The resource could not be found.")


def list_tags(req: ApiRequest):
    _tags_version(req)
    with req.deps.uow() as uow:
        row = _server_for(req, uow, "os_compute_api:os-server-tags:index")
        return json_response({"tags": [t.tag for t in row.tags]})


def check_tag(req: ApiRequest):
    _tags_version(req)
    with req.deps.uow() as uow:
        row = _server_for(req, uow, "os_compute_api:os-server-tags:show")
        if req.params["tag"] not in [t.tag for t in row.tags]:
            raise NotFound(f"Tag '{req.params['tag']}' could not be found for instance {row.id}")
    return empty_response(204)


def replace_tags(req: ApiRequest):
    _tags_version(req)
    tags = body_of(req, schemas.TAGS, "tags")
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, "os_compute_api:os-server-tags:update_all")
        out = svc.set_tags(uow, caller(req), req.params["server_id"], tags)
    return json_response({"tags": out})


def add_tag(req: ApiRequest):
    _tags_version(req)
    tag = req.params["tag"]
    if len(tag) > 60 or "," in tag or not tag:
        raise BadRequest(f"Invalid tag {tag!r}")
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, "os_compute_api:os-server-tags:update")
        created = svc.add_tag(uow, caller(req), req.params["server_id"], tag)
    url = f"{req.base_url}{V21}/servers/{req.params['server_id']}/tags/{tag}"
    return empty_response(201 if created else 204, {"Location": url})


def delete_tag(req: ApiRequest):
    _tags_version(req)
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, "os_compute_api:os-server-tags:delete")
        svc.delete_tag(uow, caller(req), req.params["server_id"], req.params["tag"])
    return empty_response(204)


def delete_tags(req: ApiRequest):
    _tags_version(req)
    with req.deps.uow(write=True) as uow:
        _server_for(req, uow, "os_compute_api:os-server-tags:delete_all")
        svc.set_tags(uow, caller(req), req.params["server_id"], [])
    return empty_response(204)


def status_of(row) -> str:
    return states.status(row.vm_state, row.task_state)
