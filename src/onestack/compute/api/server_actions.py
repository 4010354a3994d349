"""POST /servers/{id}/action: every server action, checked against ``states.ACTIONS``; plus the
instance action log, console output and diagnostics."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets

from onestack.core.errors import ApiError, BadRequest, Conflict, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response
from onestack.core.validation import validate

from .. import states
from ..schemas import servers as schemas
from ..service import flavors as flavors_svc
from ..service import interfaces as iface_svc
from ..service import quotas
from ..service import servers as svc
from ..service.common import SCHEDULE
from ..views import servers as views
from ..views.common import V21, isotime_us
from .common import parse_int, target
from .servers import caller

_SIMPLE = {
    # body key: (action name, policy rule, status)
    "os-stop": ("stop", "os_compute_api:servers:stop", 202),
    "os-start": ("start", "os_compute_api:servers:start", 202),
    "pause": ("pause", "os_compute_api:os-pause-server:pause", 202),
    "unpause": ("unpause", "os_compute_api:os-pause-server:unpause", 202),
    "suspend": ("suspend", "os_compute_api:os-suspend-server:suspend", 202),
    "resume": ("resume", "os_compute_api:os-suspend-server:resume", 202),
    "unrescue": ("unrescue", "os_compute_api:os-unrescue", 202),
    "shelveOffload": ("shelveOffload", "os_compute_api:os-shelve:shelve_offload", 202),
    "shelve": ("shelve", "os_compute_api:os-shelve:shelve", 202),
}


def server_action(req: ApiRequest):
    body = req.json()
    if not isinstance(body, dict) or not body:
        raise BadRequest("Malformed request body")
    name = next(iter(body))
    server_id = req.params["server_id"]
    who = caller(req)
    if name == "createImage":
        return _create_image(req, who, server_id, body)
    if name == "os-getConsoleOutput":  # reads the guest's live log: no write transaction held meanwhile
        return _console_output(req, who, server_id, body)
    if name in ("addFixedIp", "removeFixedIp"):  # the network service's own transactions first
        return _fixed_ip(req, who, server_id, body, name)
    with req.deps.uow(write=True) as uow:
        row = svc.get_server(uow, who, server_id)
        tgt = target(row.project_id, row.user_id)
        if name in _SIMPLE:
            action, rule, status = _SIMPLE[name]
            req.enforce(rule, tgt)
            svc.start_action(uow, who, server_id, action)
            return empty_response(status)
        handler = _ACTIONS.get(name)
        if handler is None:
            raise BadRequest(f"There is no such action: {name}")
        return handler(req, uow, who, row, tgt, body)


def _fixed_ip(req: ApiRequest, who, server_id: str, body: dict, name: str):
    """Nova's multinic actions (removed at 2.44): one more fixed IP from a network on the server's port there,
    or one address less; 202, the addresses follow through the host agent."""
    if req.version.matches("2.44"):
        raise NotFound("The resource could not be found.")
    add = name == "addFixedIp"
    validate(schemas.ADD_FIXED_IP if add else schemas.REMOVE_FIXED_IP, body)
    address = None if add else body[name]["address"]
    if address is not None:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise BadRequest(f"Invalid input for field/attribute address. Value: {address}. "
                             f"'{address}' is not a valid IP address") from None
    with req.deps.uow() as uow:
        row = svc.get_server(uow, who, server_id)
        req.enforce(f"os_compute_api:os-multinic:{'add' if add else 'remove'}", target(row.project_id, row.user_id))
        svc.check_locked(row, who)
    network = req.deps.network
    if network is None:
        raise BadRequest("Networking is not available in this cloud.")
    try:
        if add:
            network.add_fixed_ip_for_server(server_id, str(body[name]["networkId"]))
        else:
            network.remove_fixed_ip_for_server(server_id, address)
    except ApiError as exc:
        if exc.status == 404 and add:  # NetworkNotFoundForInstance
            raise NotFound(exc.message) from None
        raise BadRequest(exc.message) from None  # NoMoreFixedIps, FixedIpNotFoundForInstance
    with req.deps.uow(write=True) as uow:
        row = svc.get_server(uow, who, server_id, lock=True)
        iface_svc.record_fixed_ip_change(uow, row, name, who, True)
    return empty_response(202)


def _reboot(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:servers:reboot", tgt)
    validate(schemas.REBOOT, body)
    hard = body["reboot"]["type"].upper() == "HARD"
    svc.start_action(uow, who, row.id, "reboot_hard" if hard else "reboot", record="reboot")
    return empty_response(202)


def _lock(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-lock-server:lock", tgt)
    reason = (body.get("lock") or {}).get("locked_reason") if isinstance(body.get("lock"), dict) else None
    if reason is not None and not req.version.matches("2.73"):
        raise BadRequest("Invalid input: locked_reason requires microversion 2.73")
    svc.lock_server(uow, who, row.id, reason)
    return empty_response(202)


def _unlock(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-lock-server:unlock", tgt)
    override = req.allowed("os_compute_api:os-lock-server:unlock:unlock_override", tgt)
    svc.unlock_server(uow, who, row.id, override)
    return empty_response(202)


def _reset_state(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-admin-actions:reset_state", tgt)
    validate(schemas.RESET_STATE, body)
    svc.reset_state(uow, who, row.id, body["os-resetState"]["state"])
    return empty_response(202)


def _rebuild(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:servers:rebuild", tgt)
    validate(schemas.REBUILD, body)
    args = body["rebuild"]
    image_id = args["imageRef"].rstrip("/").rsplit("/", 1)[-1]
    image_client = req.deps.image
    if image_client is not None:
        image = image_client.boot_facts(req.ctx, image_id)
        if image is None:
            raise BadRequest(f"Image {image_id} could not be found.")
        if image["status"] != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        if row.image_ref:  # image-backed: the new image must fit the server's flavor
            flavor = row.flavor or {}
            svc.check_flavor_fits_image(int(flavor.get("disk") or 0), int(flavor.get("ram") or row.memory_mb), image)
            svc.check_zero_disk_flavor(int(flavor.get("disk") or 0), True,
                                       lambda: req.allowed(svc.ZERO_DISK_FLAVOR, tgt))
    inst = svc.start_action(uow, who, row.id, "rebuild", {"image_ref": image_id})
    inst.image_ref = image_id  # as Nova: the server shows its new image from the rebuild's response on
    for key, attr in (("name", "name"), ("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6")):
        if key in args:
            setattr(inst, attr, args[key])
    if "metadata" in args:
        inst.metadata_ = dict(args["metadata"])
    if "description" in args and req.version.matches("2.19"):
        inst.description = args["description"]
    uow.session.flush()
    out = views.server(inst, req.base_url, req.version, admin=who.admin, minimal=not req.version.matches("2.75"))
    out["adminPass"] = args.get("adminPass") or secrets.token_urlsafe(9)
    return _json(out, 202)


def _json(server: dict, status: int):
    return json_response({"server": server}, status)


def _resize(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:servers:resize", tgt)
    validate(schemas.RESIZE, body)
    flavor_id = str(body["resize"]["flavorRef"]).rstrip("/").rsplit("/", 1)[-1]
    try:
        flavor = flavors_svc.get_flavor(uow, flavor_id, who.project_id, who.admin)
    except NotFound:
        raise BadRequest(f"Flavor {flavor_id} could not be found.") from None
    if flavor.id == row.flavor_id:
        raise BadRequest("When resizing, instances must change flavor!")
    if flavor.root_gb < (row.flavor or {}).get("disk", 0):
        raise BadRequest("Resize error: Unable to resize disk down.")
    image = req.deps.image.boot_facts(None, row.image_ref) if row.image_ref and req.deps.image else None
    if image is not None:  # as Nova: the server's image must fit the new flavor too
        svc.check_flavor_fits_image(flavor.root_gb, flavor.memory_mb, image)
    quotas.check_resize(uow, req.deps.limit, row.project_id, flavor.vcpus - row.vcpus,
                        flavor.memory_mb - row.memory_mb)
    svc.start_action(uow, who, row.id, "resize", {"flavor": svc.flavor_snapshot(flavor),
                                                  "was_stopped": row.vm_state == states.STOPPED})
    return empty_response(202)


def _confirm_resize(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:servers:confirm_resize", tgt)
    inst = svc.get_server(uow, who, row.id, lock=True)
    svc.check_state(inst, states.ACTIONS["confirmResize"])
    inst.vm_state = states.STOPPED if inst.power_state == states.SHUTDOWN else states.ACTIVE
    inst.old_flavor = None
    if (inst.system_metadata or {}).get("migrated_from"):  # the move is final: nothing to revert to
        inst.system_metadata = {k: v for k, v in inst.system_metadata.items() if k != "migrated_from"}
    svc.record_action(uow, inst, "confirmResize", who, finished=True)
    # the host agent drops what it kept for a revert (as Nova's compute confirms after the API's 204)
    inst.pending = {"action": "confirmResize", "request_id": who.request_id}
    inst.revision += 1
    uow.emit(svc.INSTANCE, inst.id)
    return empty_response(204)


def _revert_resize(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:servers:revert_resize", tgt)
    if (row.system_metadata or {}).get("migrated_from"):  # a cold migration: back to the source host
        svc.revert_migration(uow, who, row.id)
        return empty_response(202)
    svc.start_action(uow, who, row.id, "revertResize",
                     {"was_stopped": row.power_state == states.SHUTDOWN})
    return empty_response(202)


def _create_image(req, who, server_id, body):
    """The image record is created first (in the image service's own transaction), then the action."""
    with req.deps.uow() as uow:
        row = svc.get_server(uow, who, server_id)
        req.enforce("os_compute_api:servers:create_image", target(row.project_id, row.user_id))
        svc.check_locked(row, who)
        svc.check_state(row, states.ACTIONS["createImage"])
        image_ref = row.image_ref
        root_gb = int((row.flavor or {}).get("disk") or 0)
    validate(schemas.CREATE_IMAGE, body)
    args = body["createImage"]
    image_client = req.deps.image
    if image_client is None:
        raise BadRequest("The image service is not available in this cloud.")
    props = {str(k): str(v) for k, v in (args.get("metadata") or {}).items()}
    extra = {"instance_uuid": server_id, "image_type": "snapshot", "base_image_ref": image_ref, **props}
    for reserved in ("name", "disk_format", "container_format"):
        extra.pop(reserved, None)
    base = (image_client.get_image(None, image_ref) or {}) if image_ref else {}
    # as Nova: the snapshot needs what its base image needed, and at least the flavor's root disk
    image = image_client.create_image(req.ctx, name=args["name"], disk_format="raw", container_format="bare",
                                      min_ram=int(base.get("min_ram") or 0),
                                      min_disk=max(int(base.get("min_disk") or 0), root_gb), **extra)
    with req.deps.uow(write=True) as uow:
        svc.start_action(uow, who, server_id, "createImage", {"image_id": image["id"]})
    location = {"Location": f"{req.base_url}/image/v2/images/{image['id']}"}
    if req.version.matches("2.45"):
        return json_response({"image_id": image["id"]}, 202, location)
    return empty_response(202, location)


def _unshelve(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-shelve:unshelve", tgt)
    inst = svc.start_action(uow, who, row.id, "unshelve")
    args = body.get("unshelve") or {}
    if isinstance(args, dict) and args.get("availability_zone"):
        inst.requested_az = args["availability_zone"]
    uow.emit(SCHEDULE, inst.id)
    return empty_response(202)


def _rescue(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-rescue", tgt)
    svc.start_action(uow, who, row.id, "rescue")
    password = ((body.get("rescue") or {}).get("adminPass") if isinstance(body.get("rescue"), dict) else None)
    return json_response({"adminPass": password or secrets.token_urlsafe(9)})


def _migrate(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-migrate-server:migrate", tgt)
    args = body.get("migrate") or {}
    host = args.get("host") if isinstance(args, dict) and req.version.matches("2.56") else None
    svc.start_migration(uow, who, row.id, live=False, host=host)
    return empty_response(202)


def _migrate_live(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-migrate-server:migrate_live", tgt)
    args = body.get("os-migrateLive")
    if not isinstance(args, dict) or "host" not in args:
        raise BadRequest("Invalid input for field/attribute os-migrateLive: 'host' is a required property")
    svc.start_migration(uow, who, row.id, live=True, host=args.get("host"))
    return empty_response(202)


def _console_output(req, who, server_id, body):
    with req.deps.uow() as uow:
        row = svc.get_server(uow, who, server_id)
        req.enforce("os_compute_api:os-console-output", target(row.project_id, row.user_id))
        vm_state, host, stored = row.vm_state, row.host, (row.system_metadata or {}).get("console_log") or ""
    args = body.get("os-getConsoleOutput") or {}
    length = args.get("length") if isinstance(args, dict) else None
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError):
            raise BadRequest("Invalid input for field/attribute length.") from None
        if length < -1:
            raise BadRequest("Invalid input for field/attribute length.")
    if vm_state in (states.BUILDING, states.SHELVED_OFFLOADED) or not host:
        raise Conflict(f"Instance {server_id} is not ready: no console output yet.")
    want = length if length is not None and length >= 0 else None
    live = req.deps.console_output(server_id, host, want)
    lines = (stored if live is None else live).splitlines()
    if length is not None and length >= 0:
        lines = lines[-length:] if length else []
    return json_response({"output": "\n".join(lines)})


def _remote_console(req, uow, who, row, tgt, body):
    req.enforce("os_compute_api:os-remote-consoles", tgt)
    kind = next(iter(body))
    token = secrets.token_urlsafe(16)
    url = f"{req.base_url}/compute/console/{kind}?token={token}"
    return json_response({"console": {"type": (body[kind] or {}).get("type", "serial"), "url": url}})


_ACTIONS = {
    "reboot": _reboot, "lock": _lock, "unlock": _unlock, "os-resetState": _reset_state, "rebuild": _rebuild,
    "resize": _resize, "confirmResize": _confirm_resize, "revertResize": _revert_resize,
    "unshelve": _unshelve, "rescue": _rescue, "migrate": _migrate, "os-migrateLive": _migrate_live,
    "os-getSerialConsole": _remote_console,
    "os-getVNCConsole": _remote_console, "os-getSPICEConsole": _remote_console,
}


def create_remote_console(req: ApiRequest):
    body = req.json()
    console = (body or {}).get("remote_console") or {}
    protocol, kind = console.get("protocol"), console.get("type")
    if protocol not in ("vnc", "spice", "serial", "rdp", "mks") or not kind:
        raise BadRequest("Invalid input for field/attribute remote_console.")
    who = caller(req)
    with req.deps.uow() as uow:
        row = svc.get_server(uow, who, req.params["server_id"])
        req.enforce("os_compute_api:os-remote-consoles", target(row.project_id, row.user_id))
        if row.vm_state != states.ACTIVE:
            raise Conflict(f"Instance {row.id} is not ready for a console (vm_state {row.vm_state}).")
    token = secrets.token_urlsafe(16)
    return json_response({"remote_console": {"protocol": protocol, "type": kind,
                                             "url": f"{req.base_url}/compute/console/{protocol}?token={token}"}})


# -- instance actions -------------------------------------------------------------------------------


def _action_view(a, v) -> dict:
    body = {"action": a.action, "instance_uuid": a.instance_id, "message": a.message, "project_id": a.project_id,
            "request_id": a.request_id, "start_time": isotime_us(a.start_time), "user_id": a.user_id}
    if v.matches("2.58"):
        body["updated_at"] = isotime_us(a.updated_at)
    return body


def list_instance_actions(req: ApiRequest):
    who = caller(req)
    with req.deps.uow() as uow:
        rows = svc.list_actions(uow, who, req.params["server_id"])
        req.enforce("os_compute_api:os-instance-actions:list", target(who.project_id))
        limit = None
        if req.version.matches("2.58"):
            limit = parse_int("limit", req.query.get("limit"), 0)
            marker = req.query.get("marker")
            if marker:
                ids = [r.request_id for r in rows]
                if marker not in ids:
                    raise BadRequest(f"Marker {marker} could not be found.")
                rows = rows[ids.index(marker) + 1:]
            if limit is not None:
                rows = rows[:limit]
        body: dict = {"instanceActions": [_action_view(a, req.version) for a in rows]}
        if limit and len(rows) == limit:
            body["links"] = [{"rel": "next", "href": f"{req.base_url}{V21}/servers/{req.params['server_id']}"
                              f"/os-instance-actions?limit={limit}&marker={rows[-1].request_id}"}]
    return json_response(body)


def show_instance_action(req: ApiRequest):
    who = caller(req)
    with req.deps.uow() as uow:
        action = svc.get_action(uow, who, req.params["server_id"], req.params["request_id"])
        req.enforce("os_compute_api:os-instance-actions:show", target(who.project_id))
        body = _action_view(action, req.version)
        show_events = req.allowed("os_compute_api:os-instance-actions:events", target(who.project_id)) or \
            req.version.matches("2.51")
        if show_events:
            admin = req.allowed("os_compute_api:os-instance-actions:events", target(who.project_id))
            events = []
            for e in action.events:
                ev = {"event": e.event, "start_time": isotime_us(e.start_time),
                      "finish_time": isotime_us(e.finish_time), "result": e.result}
                if admin:
                    ev["traceback"] = e.traceback
                if req.version.matches("2.62"):
                    if admin:
                        ev["host"] = e.host
                    ev["hostId"] = hashlib.sha224(((action.project_id or "") + (e.host or "")).encode()
                                                  ).hexdigest() if e.host else ""
                if req.version.matches("2.84") and admin:
                    ev["details"] = e.details
                events.append(ev)
            body["events"] = events
    return json_response({"instanceAction": body})


def show_diagnostics(req: ApiRequest):
    who = caller(req)
    with req.deps.uow() as uow:
        row = svc.get_server(uow, who, req.params["server_id"])
        req.enforce("os_compute_api:os-server-diagnostics", target(row.project_id))
        if row.vm_state == states.BUILDING or not row.host:
            raise Conflict(f"Cannot 'get_diagnostics' instance {row.id} while it is in vm_state {row.vm_state}")
        flavor = row.flavor or {}
        if not req.version.matches("2.48"):
            return json_response({"cpu0_time": 0, "memory": flavor.get("ram", 0) * 1024})
        state = {1: "running", 3: "paused", 4: "shutdown", 6: "crashed", 7: "suspended"}.get(row.power_state, "pending")
        return json_response({
            "state": state, "driver": "fake", "hypervisor": "fake", "hypervisor_os": "linux", "uptime": 0,
            "config_drive": row.config_drive == "True", "num_cpus": flavor.get("vcpus", 0),
            "num_nics": sum(len(v) for v in (row.addresses or {}).values()), "num_disks": 1,
            "cpu_details": [{"id": i, "time": 0, "utilisation": None} for i in range(flavor.get("vcpus", 0))],
            "nic_details": [], "disk_details": [{"read_bytes": 0, "read_requests": 0, "write_bytes": 0,
                                                 "write_requests": 0, "errors_count": 0}],
            "memory_details": {"maximum": flavor.get("ram", 0), "used": 0}})
