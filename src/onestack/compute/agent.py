"""The compute host agent: converges the servers assigned to its host(s) through a guest driver.

One ``ComputeAgent`` serves one or more hosts (``--fake-hosts N`` simulates N hosts in one process,
each with its own driver instance).  Its resync registers each host's service and compute node,
reports the node's inventory to placement and heartbeats; the ``InstanceReconciler`` takes one server
at a time: build (ports, image, spawn), carry out the pending action, or delete — then records the
outcome.  A failed build ends in ERROR with a fault and gives back its placement allocation and ports.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from onestack.core.bus import Bus
from onestack.core.config import Settings
from onestack.core.context import RequestContext
from onestack.core.db import utcnow
from onestack.core.errors import ApiError
from onestack.core.reconcile import Agent
from onestack.core.uow import UnitOfWorkFactory

from . import states
from .client import CONSOLE, NETWORK_CHANGED, VOLUME_EXTENDED, ComputeClient
from .drivers.base import (
    FlavorSpec,
    Guest,
    GuestDriver,
    GuestDriverError,
    GuestNotFound,
    ImageSpec,
    Interface,
    VolumeAttachment,
)
from .drivers.container.driver import ContainerGuestDriver
from .drivers.fake import FakeGuestDriver
from .drivers.qemu.driver import QemuGuestDriver
from .interfaces import HostInterfaces
from .model import Instance
from .scheduler import Scheduler, resources_of
from .service import block_devices as bd
from .service import hosts as hosts_svc
from .service import interfaces as iface_svc
from .service.common import INSTANCE
from .service.servers import UPDATE_INSTANCE, add_event, finish_delete_row
from .volumes import HostVolumes

log = logging.getLogger(__name__)

# The guest drivers a [compute] driver setting may name ("auto" resolves to one of them).
DRIVERS: dict[str, type[GuestDriver]] = {"fake": FakeGuestDriver, "container": ContainerGuestDriver,
                                         "qemu": QemuGuestDriver}

CONSOLE_COPY_LINES = 1000  # lines of console a remote request stores for the API
FetchImage = Callable[[ImageSpec], Iterable[bytes]]
ResolveImage = Callable[[str], ImageSpec | None]


def resolve_driver_name(configured: str) -> tuple[str, str]:
    """``auto``: the container driver when root with LXC and busybox, else fake; returns (name, why)."""
    if configured != "auto":
        return configured, "configured"
    if os.geteuid() != 0:
        return "fake", "auto: not running as root"
    missing = [t for t in ("lxc-start", "busybox") if not shutil.which(t)]
    if missing:
        return "fake", f"auto: {', '.join(missing)} not installed (apt-get install lxc busybox-static)"
    return "container", "auto: root with lxc and busybox"


def container_prefix(settings: Settings) -> str:
    """Guest name prefix: several clouds (data dirs) on one machine never adopt each other's guests."""
    if settings.compute.prefix:
        return settings.compute.prefix
    return "os" + hashlib.sha1(str(settings.data_path).encode()).hexdigest()[:5] + "-"


def container_state_dir(settings: Settings) -> str:
    return settings.compute.state_dir or str(settings.data_path / "compute")


def host_names(settings: Settings, count: int | None = None) -> list[str]:
    base = settings.compute.host or socket.gethostname()
    count = count or settings.compute.fake_hosts or 1
    return [base] if count == 1 else [f"{base}-{i:04d}" for i in range(1, count + 1)]


def make_drivers(settings: Settings, hosts: list[str], driver: str | None = None,
                 fetch_image: FetchImage | None = None,
                 resolve_image: ResolveImage | None = None) -> dict[str, GuestDriver]:
    name = resolve_driver_name(driver or settings.compute.driver)[0]
    if name not in DRIVERS:
        raise ValueError(f"unknown compute driver {name!r}; choose one of {', '.join(sorted(DRIVERS))}")
    cls = DRIVERS[name]
    c = settings.compute
    if cls is FakeGuestDriver:
        return {h: FakeGuestDriver(h, vcpus=c.vcpus or 64, memory_mb=c.memory_mb or 262144,
                                   disk_gb=c.disk_gb or 2048) for h in hosts}
    if cls is ContainerGuestDriver:
        state = container_state_dir(settings)
        return {h: ContainerGuestDriver(state if len(hosts) == 1 else os.path.join(state, h),
                                        container_prefix(settings), fetch_image=fetch_image,
                                        image_cache_max_age=float(c.remove_unused_original_minimum_age_seconds),
                                        vcpus=c.vcpus, memory_mb=c.memory_mb, disk_gb=c.disk_gb) for h in hosts}
    if cls is QemuGuestDriver:
        state = container_state_dir(settings)
        return {h: QemuGuestDriver(os.path.join(state if len(hosts) == 1 else os.path.join(state, h), "qemu"),
                                   container_prefix(settings), accel_mode=c.qemu_accel, fetch_image=fetch_image,
                                   resolve_image=resolve_image,
                                   image_cache_max_age=float(c.remove_unused_original_minimum_age_seconds),
                                   vcpus=c.vcpus, memory_mb=c.memory_mb, disk_gb=c.disk_gb) for h in hosts}
    return {h: cls(h) for h in hosts}  # type: ignore[call-arg]


def image_fetcher(clients: dict) -> FetchImage | None:
    """Image data from the image service, for drivers that cache images on the host."""
    image_client = clients.get("image")
    if image_client is None:
        return None

    def fetch(image: ImageSpec) -> Iterable[bytes]:
        return image_client.open_image_data(image.id)

    return fetch


def image_resolver(clients: dict) -> ResolveImage | None:
    """Image records by id (kernel_id/ramdisk_id of AMI-style images), for drivers that need them."""
    image_client = clients.get("image")
    if image_client is None:
        return None
    return lambda image_ref: image_spec(image_client, image_ref)


_IMAGE_DOCUMENT_KEYS = {
    "id", "name", "status", "visibility", "disk_format", "container_format", "size", "checksum", "created_at",
    "updated_at", "tags", "owner", "protected", "min_disk", "min_ram", "self", "file", "schema", "os_hidden",
    "os_hash_algo", "os_hash_value", "virtual_size", "locations"}


def image_spec(image_client, image_ref: str) -> ImageSpec | None:
    fields = image_client.image_guest_fields(image_ref) if hasattr(image_client, "image_guest_fields") else None
    if fields is not None:  # the columns a guest needs (every build reads them)
        props = {k: v for k, v in fields["properties"].items() if k not in _IMAGE_DOCUMENT_KEYS}
        if fields["store"]:
            props["stores"] = fields["store"]  # as in the image document
        props = {k: str(v) for k, v in props.items() if v is not None}
        props.update({k: str(fields[k]) for k in ("os_hash_algo", "os_hash_value") if fields[k]})  # verified
        path = image_client.image_data_path(image_ref)
        return ImageSpec(id=image_ref, disk_format=fields["disk_format"] or "",
                         container_format=fields["container_format"] or "", properties=props,
                         path=str(path) if path else None)
    if hasattr(image_client, "image_guest_fields"):
        return None  # no such image
    image = image_client.get_image(None, image_ref) or {}
    if not image:
        return None
    path = image_client.image_data_path(image_ref)
    props = {k: str(v) for k, v in image.items() if k not in _IMAGE_DOCUMENT_KEYS and v is not None}
    props.update({k: str(image[k]) for k in ("os_hash_algo", "os_hash_value") if image.get(k)})  # verified
    return ImageSpec(id=image_ref, disk_format=image.get("disk_format") or "",
                     container_format=image.get("container_format") or "", properties=props,
                     path=str(path) if path else None)


def flavor_spec(f: dict) -> FlavorSpec:
    return FlavorSpec(vcpus=int(f.get("vcpus", 1)), memory_mb=int(f.get("ram", 64)), root_gb=int(f.get("disk", 0)),
                      ephemeral_gb=int(f.get("ephemeral", 0)), swap_mb=int(f.get("swap", 0)),
                      extra_specs=dict(f.get("extra_specs") or {}))


@dataclass(frozen=True)
class _Work:
    id: str
    name: str
    hostname: str
    project_id: str
    user_id: str
    host: str
    zone: str
    vm_state: str
    task_state: str | None
    pending: dict
    revision: int
    observed_revision: int
    flavor: dict
    old_flavor: dict | None
    image_ref: str
    requested_networks: object
    user_data: str | None
    metadata: dict
    key_data: str | None
    config_drive: bool
    roles: tuple[str, ...]
    has_volumes: bool = False  # the server has volume mappings (re-created guests get them back)
    security_groups: tuple[str, ...] = ()  # names or ids the server was created with: its new ports get them


class InstanceReconciler:
    topic = INSTANCE

    def __init__(self, settings: Settings, uow: UnitOfWorkFactory, clients: dict, drivers: dict[str, GuestDriver]):
        self.settings = settings
        self.uow = uow
        self.clients = clients
        self.drivers = drivers
        self.nodes: dict[str, str] = {}  # host -> compute node id (= resource provider uuid)
        self.volumes = HostVolumes(uow, clients, self._image)
        self.interfaces = HostInterfaces(uow, clients, _interface, _addresses, self._plug_attached,
                                         float(settings.compute.vif_plugging_timeout))
        self._recovered = False
        self._next_cache_prune = time.monotonic() + max(0, settings.compute.image_cache_manager_interval)

    # -- hosts --------------------------------------------------------------------------------------

    def register_hosts(self) -> None:
        c = self.settings.compute
        for host, driver in self.drivers.items():
            res = driver.host_resources()
            report = hosts_svc.HostReport(host=host, node=host, vcpus=res.vcpus, memory_mb=res.memory_mb,
                                          disk_gb=res.disk_gb, hypervisor_type=res.hypervisor_type,
                                          hypervisor_version=res.hypervisor_version)
            with self.uow(write=True) as uow:
                node = hosts_svc.register_host(uow, report)
                self.nodes[host] = node.id
            placement = self.clients.get("placement")
            if placement is not None:
                inventories = {
                    "VCPU": {"total": res.vcpus, "allocation_ratio": float(c.cpu_allocation_ratio),
                             "max_unit": res.vcpus},
                    "MEMORY_MB": {"total": res.memory_mb, "allocation_ratio": float(c.ram_allocation_ratio),
                                  "max_unit": res.memory_mb, "reserved": 0},
                    "DISK_GB": {"total": res.disk_gb, "allocation_ratio": float(c.disk_allocation_ratio),
                                "max_unit": res.disk_gb},
                }
                traits = ["COMPUTE_NODE"] + (["COMPUTE_VOLUME_ATTACH"] if driver.supports_volume_attach else []) + (
                    ["COMPUTE_NET_ATTACH_INTERFACE"] if driver.supports_interface_attach else [])
                placement.ensure_provider(node.id, host, inventories, traits)

    def heartbeat(self) -> None:
        with self.uow(write=True) as uow:
            hosts_svc.heartbeat(uow, list(self.drivers))

    def recover(self) -> None:
        """After a restart: guests the database says exist but the driver lost are started again."""
        with self.uow() as uow:
            rows = [self._work(r) for r in uow.session.scalars(select(Instance).where(
                Instance.host.in_(list(self.drivers)), Instance.deleted.is_(False),
                Instance.vm_state.in_((states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED,
                                       states.RESCUED, states.RESIZED))))]
            known = set(uow.session.scalars(select(Instance.id).where(
                Instance.host.in_(list(self.drivers)), Instance.deleted.is_(False))))
        for host, driver in self.drivers.items():
            adopt = getattr(driver, "adopt", None)  # drivers whose guests outlive us remove unknown ones
            if adopt is not None:
                removed = adopt(known)
                if removed:
                    log.warning("removed %d guest(s) on %s that no server owns: %s", len(removed), host,
                                ", ".join(removed))
        for work in rows:
            driver = self.drivers[work.host]
            if work.id in driver.list_guests():
                continue
            try:
                driver.spawn(self._guest(work, self._interfaces(work.id)))
                self._plugged(work.id, driver)
                if work.vm_state == states.STOPPED:
                    driver.power_off(work.id)
            except GuestDriverError:
                log.exception("could not recover guest %s on %s", work.id, work.host)

    def _prune_image_caches(self) -> None:
        """As Nova's image cache manager: every ``image_cache_manager_interval`` seconds, cached images no guest
        uses and nobody used for ``remove_unused_original_minimum_age_seconds`` are removed."""
        interval = self.settings.compute.image_cache_manager_interval
        if interval < 0 or time.monotonic() < self._next_cache_prune:
            return
        self._next_cache_prune = time.monotonic() + interval
        for host, driver in self.drivers.items():
            prune = getattr(driver, "prune_image_cache", None)  # drivers with a per-host image cache
            if prune is None:
                continue
            try:
                removed = prune()
            except Exception:  # noqa: BLE001 - housekeeping: a failure never stops the resync
                log.exception("pruning the image cache of %s failed", host)
                continue
            if removed:
                log.info("removed %d unused cached image(s) on %s: %s", len(removed), host, ", ".join(removed))

    # -- reconciler protocol --------------------------------------------------------------------------

    def pending_keys(self) -> Iterable[str]:
        self.register_hosts() if not self.nodes else self.heartbeat()
        if not self._recovered:
            self._recovered = True
            self.recover()
        self._prune_image_caches()
        with self.uow() as uow:
            keys = list(uow.session.scalars(select(Instance.id).where(
                Instance.host.in_(list(self.drivers)), Instance.deleted.is_(False),
                (Instance.task_state.is_not(None)) | (Instance.revision != Instance.observed_revision)
                | (Instance.vm_state == states.BUILDING))))
            more = bd.pending_instances(uow, list(self.drivers)) + iface_svc.pending_instances(uow, list(self.drivers))
            return keys + [k for k in dict.fromkeys(more) if k not in set(keys)]

    def reconcile(self, key: str) -> None:
        with self.uow() as uow:
            row = uow.session.connection().execute(_WORK_READ, {"id": key}).first()  # no ORM row: every reconcile
            if row is None or row.deleted or row.host not in self.drivers:
                return
            work = self._work(row)
        driver = self.drivers[work.host]
        action = work.pending.get("action")
        if work.has_volumes and work.vm_state != states.BUILDING and work.task_state != states.DELETING:
            self.volumes.converge(work.id, work.host, driver)  # requested attaches/detaches first
        if work.vm_state != states.BUILDING and work.task_state != states.DELETING and \
                self.clients.get("network") is not None:
            self.interfaces.converge(work.id, work.host, driver)
        if work.task_state == states.DELETING or action == "delete":
            self._delete(work, driver)
        elif work.vm_state == states.BUILDING or action == "unshelve":
            self._build(work, driver)
        elif action:
            self._act(work, driver, action)
        elif work.revision != work.observed_revision:
            self._finish(work, {})

    # -- steps ----------------------------------------------------------------------------------------

    def _work(self, row) -> _Work:  # an Instance, or a row of _WORK_READ
        return _Work(row.id, row.name, row.hostname, row.project_id, row.user_id, row.host or "",
                     row.availability_zone or "", row.vm_state, row.task_state, dict(row.pending or {}),
                     row.revision, row.observed_revision, dict(row.flavor or {}),
                     dict(row.old_flavor) if row.old_flavor else None, row.image_ref, row.requested_networks,
                     row.user_data, dict(row.metadata_ or {}), row.key_data, row.config_drive == "True",
                     tuple(r for r in ((row.system_metadata or {}).get("roles") or "").split(",") if r),
                     bool(row.block_devices), tuple(g["name"] for g in row.security_groups or ()))

    def _ctx(self, work: _Work) -> RequestContext:
        return RequestContext(user_id=work.user_id, project_id=work.project_id, roles=work.roles or ("member",))

    def _interfaces(self, server_id: str) -> tuple[Interface, ...]:
        network = self.clients.get("network")
        if network is None:
            return ()
        with self.uow() as uow:
            tags = iface_svc.tags(uow, server_id)
        return tuple(_interface(p, tags.get(p["id"])) for p in network.ports_for_server(server_id))

    def _image(self, image_ref: str) -> ImageSpec | None:
        if not image_ref:
            return None
        image_client = self.clients.get("image")
        if image_client is None:
            return ImageSpec(id=image_ref)
        return image_spec(image_client, image_ref) or ImageSpec(id=image_ref)

    def _guest(self, work: _Work, interfaces: tuple[Interface, ...], image_ref: str | None = None,
               volumes: tuple[VolumeAttachment, ...] | None = None) -> Guest:
        if volumes is None:
            volumes = self.volumes.guest_volumes(work.id, work.host, self.drivers[work.host]) \
                if work.has_volumes else ()
        return Guest(uuid=work.id, name=work.name, hostname=work.hostname, flavor=flavor_spec(work.flavor),
                     image=self._image(image_ref if image_ref is not None else work.image_ref),
                     interfaces=interfaces, volumes=volumes, user_data=work.user_data, metadata=work.metadata,
                     key_data=work.key_data, config_drive=work.config_drive)

    def _build(self, work: _Work, driver: GuestDriver) -> None:
        network = self.clients.get("network")
        unshelve = work.pending.get("action") == "unshelve"
        t = [time.perf_counter()]
        try:
            interfaces: tuple[Interface, ...] = ()
            if network is not None and work.requested_networks not in (None, "none"):
                requested = "auto" if work.requested_networks == "default" else work.requested_networks
                try:
                    ports = network.allocate_for_server(self._ctx(work), work.id, work.host, requested,
                                                        work.zone or "nova", work.security_groups)
                except ApiError as exc:
                    if work.requested_networks != "default" or exc.status != 404:
                        raise
                    ports = []  # no network the project may use: boot without one, as Nova does
                tags = iface_svc.boot_port_tags(work.requested_networks, ports)
                if tags:  # kept on the ports' virtual interface rows
                    with self.uow(write=True) as uow:
                        iface_svc.record_boot_tags(uow, work.id, tags)
                interfaces = tuple(_interface(p, tags.get(p["id"])) for p in ports)
            elif network is not None and unshelve:
                interfaces = self._interfaces(work.id)
            t.append(time.perf_counter())
            prepared = self.volumes.prepare_boot(self._ctx(work), work.id, work.name, work.host, driver)
            volumes = self.volumes.guest_volumes(work.id, work.host, driver) + prepared if unshelve else prepared
            guest = self._guest(work, interfaces, volumes=volumes)
            t.append(time.perf_counter())
            driver.spawn(guest, network_ready=self._network_ready(work.id, driver, interfaces))
            if prepared:  # the new volumes (none: nothing pending to complete)
                self.volumes.finish_boot(work.id)
            t.append(time.perf_counter())
            power = driver.info(work.id).power_state
            t.append(time.perf_counter())
        except (GuestDriverError, ApiError, OSError) as exc:
            log.warning("build of %s on %s failed: %s", work.id, work.host, exc)
            self._fail_build(work, driver, exc)
            return
        addresses = _addresses(network.ports_for_server(work.id)) if network is not None else {}
        t.append(time.perf_counter())
        self._finish(work, {"vm_state": states.ACTIVE, "power_state": int(power), "launched_at": utcnow(),
                            "addresses": addresses, "console_log": _console(driver, work.id)},
                     event="compute_unshelve_instance" if unshelve else "compute__do_build_and_run_instance")
        t.append(time.perf_counter())
        steps = ("ports", "volumes", "spawn", "info", "addresses", "finish")
        log.debug("built %s in %.3fs (%s)", work.id, t[-1] - t[0],
                  ", ".join(f"{k} {b - a:.3f}" for k, a, b in zip(steps, t, t[1:], strict=False)))

    def _fail_build(self, work: _Work, driver: GuestDriver, exc: Exception) -> None:
        try:
            driver.destroy(work.id)
        except GuestDriverError:
            log.exception("cleanup of failed build %s", work.id)
        network = self.clients.get("network")
        if network is not None:
            network.deallocate_for_server(work.id)
        placement = self.clients.get("placement")
        if placement is not None:
            placement.release(work.id)
        self.volumes.release(work.id)
        message = str(getattr(exc, "message", None) or exc) or exc.__class__.__name__
        fault = {"code": 500, "message": message, "created": utcnow().isoformat(),
                 "details": "".join(traceback.format_exception_only(type(exc), exc)).strip()}
        self._finish(work, {"vm_state": states.ERROR, "power_state": states.NOSTATE, "fault": fault},
                     event="compute__do_build_and_run_instance", ok=False, details=message)

    def _delete(self, work: _Work, driver: GuestDriver) -> None:
        driver.destroy(work.id)
        self.volumes.release(work.id)
        network = self.clients.get("network")
        if network is not None:
            network.deallocate_for_server(work.id)
        placement = self.clients.get("placement")
        if placement is not None:
            placement.release(work.id)
        with self.uow(write=True) as uow:
            row = uow.session.connection().execute(_FINISH_READ, {"id": work.id}).first()
            if row is None or row.deleted:
                return
            add_event(uow, work.id, "compute_terminate_instance", work.host, True, action_name="delete")
            finish_delete_row(uow, work.id, row.revision)

    def _act(self, work: _Work, driver: GuestDriver, name: str) -> None:
        action = states.ACTIONS.get(name)
        if action is None:
            self._finish(work, {})
            return
        if name in ("migrate", "live-migration") and not work.pending.get("moved"):
            return  # the scheduler has not picked the target host yet
        changes: dict = {}
        event = f"compute_{_EVENTS.get('revertResize' if work.pending.get('revert') else name, name)}"
        try:
            try:
                changes = self._run(work, driver, name) or {}
            except (GuestDriverError, ApiError, OSError) as exc:
                if name != "createImage":
                    raise
                self._snapshot_failed(work, driver, exc, event)
                return
            power = int(driver.info(work.id).power_state) if name not in ("shelve", "shelveOffload") else \
                states.SHUTDOWN
        except GuestDriverError as exc:
            log.warning("%s of %s failed: %s", name, work.id, exc)
            fault = {"code": 500, "message": str(exc), "created": utcnow().isoformat(), "details": str(exc)}
            try:
                power = int(driver.info(work.id).power_state)
            except GuestNotFound:
                power = states.NOSTATE
            self._finish(work, {"power_state": power, "fault": fault, "vm_state": states.ERROR}, event=event,
                         ok=False, details=str(exc))
            return
        final = {"power_state": power, "console_log": _console(driver, work.id)}
        if action.final_vm_state:
            final["vm_state"] = action.final_vm_state
        final.update(changes)
        self._finish(work, final, event=event)

    def _snapshot_failed(self, work: _Work, driver: GuestDriver, exc: Exception, event: str) -> None:
        """As Nova: a failed snapshot (the driver's, or an upload the image service refused) deletes its image
        and leaves the server as it was, with the failure as its fault and in the action's events."""
        log.warning("createImage of %s failed: %s", work.id, exc)
        image_client = self.clients.get("image")
        if image_client is not None and work.pending.get("image_id"):
            with contextlib.suppress(ApiError):
                image_client.delete_image(None, work.pending["image_id"])
        try:
            power = int(driver.info(work.id).power_state)
        except GuestDriverError:
            power = states.NOSTATE
        fault = {"code": 500, "message": f"snapshot failed: {exc}", "created": utcnow().isoformat(),
                 "details": str(exc)}
        self._finish(work, {"power_state": power, "fault": fault}, event=event, ok=False, details=str(exc))

    def _run(self, work: _Work, driver: GuestDriver, name: str) -> dict | None:
        uid = work.id
        if name == "confirmResize" or work.pending.get("confirm_resize"):  # the disk kept for a revert goes
            confirm = getattr(driver, "confirm_resize", None)
            if confirm is not None:
                confirm(uid)
            if name == "confirmResize":
                return None
        # stop is a clean shutdown (ACPI power button / SIGPWR to init) before the hard one, as Nova's
        simple = {"stop": lambda: driver.power_off(uid, self._shutdown_timeout(work)),
                  "start": lambda: driver.power_on(uid),
                  "reboot": lambda: driver.reboot(uid, hard=False), "reboot_hard": lambda: driver.reboot(uid, True),
                  "pause": lambda: driver.pause(uid), "unpause": lambda: driver.unpause(uid),
                  "suspend": lambda: driver.suspend(uid), "resume": lambda: driver.resume(uid),
                  "rescue": lambda: None, "unrescue": lambda: None}
        if name in simple:
            self._ensure(work, driver)
            simple[name]()
            if name in ("start", "reboot", "reboot_hard"):
                self._plugged(uid, driver)
            return None
        if name == "rebuild":
            image_ref = work.pending.get("image_ref") or work.image_ref
            driver.destroy(uid)
            driver.spawn(self._guest(work, self._interfaces(uid), image_ref))
            self._plugged(uid, driver)
            if work.vm_state == states.STOPPED:  # as Nova: a stopped server is stopped again once rebuilt
                driver.power_off(uid)
                return {"vm_state": states.STOPPED, "image_ref": image_ref, "launched_at": utcnow()}
            return {"vm_state": states.ACTIVE, "image_ref": image_ref, "launched_at": utcnow()}
        if name in ("resize", "revertResize"):
            new = work.pending.get("flavor") if name == "resize" else work.old_flavor
            placement = self.clients.get("placement")
            if placement is not None and new:
                node = self.nodes.get(work.host)
                if node and not placement.claim(uid, {node: resources_of(new)}, work.project_id, work.user_id):
                    raise GuestDriverError("No valid host was found. Not enough resources for the new flavor.")
            resized = _Work(**{**work.__dict__, "flavor": dict(new or work.flavor)})
            resize = getattr(driver, "resize", None)  # drivers that keep the guest's disk resize in place
            if name == "revertResize":  # ... and go back to the disk they kept at the resize
                resize = getattr(driver, "revert_resize", resize)
            if resize is not None and uid in driver.list_guests():
                resize(uid, flavor_spec(resized.flavor))
                driver.power_off(uid)  # the new vCPUs/memory apply from the next start
                if not work.pending.get("was_stopped"):
                    driver.power_on(uid)
                    self._plugged(uid, driver)
            else:
                driver.destroy(uid)
                driver.spawn(self._guest(resized, self._interfaces(uid)))
                self._plugged(uid, driver)
                if work.pending.get("was_stopped"):
                    driver.power_off(uid)
            if name == "resize":
                return {"flavor": dict(new), "old_flavor": work.flavor, "vcpus": int(new["vcpus"]),
                        "memory_mb": int(new["ram"]), "flavor_id": new["id"]}
            vm = states.STOPPED if work.pending.get("was_stopped") else states.ACTIVE
            return {"flavor": dict(new), "old_flavor": None, "vcpus": int(new["vcpus"]),
                    "memory_mb": int(new["ram"]), "flavor_id": new["id"], "vm_state": vm}
        if name == "createImage":
            self._ensure(work, driver)
            image_client = self.clients.get("image")
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "disk")
                fmt = driver.snapshot(uid, path)
                if image_client is not None and work.pending.get("image_id"):
                    with open(path, "rb") as fh:  # registered raw; the driver says what it wrote
                        image_client.upload_image_data(work.pending["image_id"], iter(lambda: fh.read(65536), b""),
                                                       disk_format=fmt)
            return None
        if name in ("migrate", "live-migration"):
            source = work.pending.get("source")
            if source in self.drivers and source != work.host:
                self.drivers[source].destroy(uid)  # the source host's guest (same agent)
            driver.spawn(self._guest(work, self._interfaces(uid)))
            if work.pending.get("was_stopped"):
                driver.power_off(uid)
            if name == "migrate" and work.pending.get("revert"):  # back on the source host: as before the move
                vm = states.STOPPED if work.pending.get("was_stopped") else states.ACTIVE
                return {"vm_state": vm, "old_flavor": None, "migrated_from": None}
            if name == "migrate":  # revertResize moves it back to ``source``
                return {"vm_state": states.RESIZED, "old_flavor": work.flavor, "migrated_from": source}
            return None
        if name in ("shelve", "shelveOffload"):
            if name == "shelve":  # a clean shutdown first, as a stop (Nova's shelve does one too)
                with contextlib.suppress(GuestNotFound):
                    driver.power_off(uid, self._shutdown_timeout(work))
            driver.destroy(uid)
            placement = self.clients.get("placement")
            if placement is not None:
                placement.release(uid)
            return {"host": None, "node": None, "node_id": None}
        return None

    def _shutdown_timeout(self, work: _Work) -> float:
        """Seconds a stop waits for the guest's clean shutdown: the image's ``os_shutdown_timeout``, else
        [compute] shutdown_timeout (as Nova)."""
        default = float(self.settings.compute.shutdown_timeout)
        image = self._image(work.image_ref)
        try:
            return float((image.properties if image is not None else {}).get("os_shutdown_timeout") or default)
        except ValueError:
            return default

    def _network_ready(self, server_id: str, driver: GuestDriver, interfaces: tuple[Interface, ...]):
        """The callback a driver runs between creating the guest's host devices and starting it: the
        network agent attaches them (woken now) and the guest starts once its ports are ACTIVE."""
        network = self.clients.get("network")
        if network is None or not interfaces or not hasattr(network, "wait_ports_active"):
            return None
        c = self.settings.compute

        def ready() -> None:
            ids = [i.port_id for i in interfaces]
            self._plugged(server_id, driver, interfaces)
            if network.wait_ports_active(ids, float(c.vif_plugging_timeout)):
                return
            if c.vif_plugging_is_fatal:
                raise GuestDriverError("Virtual Interface creation failed")
            log.warning("ports of %s not active after %ss; starting it anyway", server_id, c.vif_plugging_timeout)

        return ready

    def _plug_attached(self, server_id: str, driver: GuestDriver, interfaces: tuple[Interface, ...],
                       timeout: float) -> None:
        """A hot-plugged port's host device exists: the network agent attaches it, and the attach is done
        once the port is ACTIVE (Nova waits for network-vif-plugged on attach too), within ``timeout``
        (what is left of the request's [compute] vif_plugging_timeout)."""
        network = self.clients.get("network")
        self._plugged(server_id, driver, interfaces)
        if network is None or isinstance(driver, FakeGuestDriver) or not hasattr(network, "wait_ports_active"):
            return
        c = self.settings.compute
        if not network.wait_ports_active([i.port_id for i in interfaces], timeout) and c.vif_plugging_is_fatal:
            raise GuestDriverError("Virtual Interface creation failed")

    def console_requested(self, _topic: str, server_id: str) -> None:
        """An API process elsewhere wants this server's console: store a fresh tail of the live log."""
        with self.uow() as uow:
            host = uow.session.scalar(select(Instance.host).where(Instance.id == server_id))
        driver = self.drivers.get(host or "")
        if driver is None:
            return
        text = _console(driver, server_id, CONSOLE_COPY_LINES)
        if text is None:
            return
        with self.uow(write=True) as uow:
            row = uow.session.get(Instance, server_id, with_for_update=True)
            if row is not None:
                row.system_metadata = {**(row.system_metadata or {}), "console_log": text,
                                       "console_at": utcnow().isoformat()}

    def volume_extended(self, _topic: str, key: str) -> None:
        """Block storage grew a volume attached to a server (key "<server>/<volume>/<new size GiB>")."""
        try:
            server_id, volume_id, size = key.split("/")
            new_size = int(size)
        except ValueError:
            log.warning("ignoring a malformed volume-extended hint %r", key)
            return
        with self.uow() as uow:
            host = uow.session.scalar(select(Instance.host).where(Instance.id == server_id,
                                                                  Instance.deleted.is_(False)))
        driver = self.drivers.get(host or "")
        if driver is not None:  # another host's agent (or none: a shelved server) handles it
            self.volumes.extend(server_id, volume_id, new_size, host, driver)

    def network_changed(self, _topic: str, server_id: str) -> None:
        """A port of the server gained or lost a floating IP: the server's addresses show it."""
        network = self.clients.get("network")
        with self.uow() as uow:
            host = uow.session.scalar(select(Instance.host).where(Instance.id == server_id,
                                                                  Instance.deleted.is_(False)))
        if network is None or (host or "") not in self.drivers:  # another host's agent (or none) writes it
            return
        addresses = _addresses(network.ports_for_server(server_id))
        with self.uow(write=True) as uow:
            row = uow.session.get(Instance, server_id, with_for_update=True)
            if row is not None and not row.deleted and row.host == host:
                row.addresses = addresses

    def _plugged(self, server_id: str, driver: GuestDriver, interfaces: tuple[Interface, ...] | None = None) -> None:
        """The driver (re)created the guest's host devices: the network agent attaches them now."""
        network = self.clients.get("network")
        if network is None or isinstance(driver, FakeGuestDriver) or not hasattr(network, "notify_vifs_plugged"):
            return
        ids = [i.port_id for i in (interfaces if interfaces is not None else self._interfaces(server_id))]
        if ids:
            network.notify_vifs_plugged(ids)

    def _ensure(self, work: _Work, driver: GuestDriver) -> None:
        try:
            driver.info(work.id)
        except GuestNotFound:
            driver.spawn(self._guest(work, self._interfaces(work.id)))
            self._plugged(work.id, driver)

    def _finish(self, work: _Work, changes: dict, event: str | None = None, ok: bool = True,
                details: str | None = None) -> None:
        """Record the outcome unless the desired state moved on meanwhile (then the new revision's
        event brings the key back)."""
        with self.uow(write=True) as uow:
            # column statements: the outcome of every build and action is written here
            conn = uow.session.connection()
            row = conn.execute(_FINISH_READ, {"id": work.id}).first()
            if row is None or row.deleted:
                return
            if row.revision != work.revision:
                return
            if "launched_at" in changes:  # the moment it is ACTIVE: in this transaction, not before its wait
                changes["launched_at"] = utcnow()
            console = changes.pop("console_log", None)
            extra = {k: changes.pop(k) for k in ("migrated_from",) if k in changes}  # kept in system_metadata
            values = {_INSTANCE_COLUMNS[key].key: value for key, value in changes.items()}
            if console is not None:
                extra["console_log"] = console
            if extra:
                merged = {**(row.system_metadata or {}), **extra}
                values["system_metadata"] = {k: v for k, v in merged.items() if v is not None}
            values.update({"task_state": None, "pending": None, "observed_revision": row.revision,
                           "status": states.status(changes.get("vm_state", row.vm_state), None),
                           "updated_at": utcnow(), "b_instance_id": work.id})
            conn.execute(UPDATE_INSTANCE, values)
            if event:
                add_event(uow, work.id, event, work.host, ok, details)

_INSTANCE_COLUMNS = Instance.__mapper__.columns  # attribute name -> column
_WORK_READ = select(*(_INSTANCE_COLUMNS[k].label(k) for k in (
    "id", "name", "hostname", "project_id", "user_id", "host", "availability_zone", "vm_state", "task_state",
    "pending", "revision", "observed_revision", "flavor", "old_flavor", "image_ref", "requested_networks",
    "user_data", "metadata_", "key_data", "config_drive", "system_metadata", "block_devices", "security_groups",
    "deleted"))).where(_INSTANCE_COLUMNS["id"] == bindparam("id"))
_FINISH_READ = select(Instance.revision, Instance.deleted, Instance.vm_state, Instance.system_metadata).where(
    Instance.id == bindparam("id")).with_for_update()

_EVENTS = {"stop": "stop_instance", "start": "start_instance", "reboot": "reboot_instance",
           "reboot_hard": "reboot_instance", "pause": "pause_instance", "unpause": "unpause_instance",
           "suspend": "suspend_instance", "resume": "resume_instance", "rebuild": "rebuild_instance",
           "resize": "finish_resize", "revertResize": "finish_revert_resize", "confirmResize": "confirm_resize",
           "createImage": "snapshot_instance",
           "shelve": "shelve_offload_instance", "shelveOffload": "shelve_offload_instance",
           "rescue": "rescue_instance", "unrescue": "unrescue_instance"}


def _console(driver: GuestDriver, uuid: str, lines: int = 200) -> str | None:
    if not driver.supports_console_output:
        return None
    try:
        return driver.console_output(uuid, lines)
    except GuestDriverError:
        return None


def _interface(port: dict, tag: str | None = None) -> Interface:
    return Interface(port_id=port["id"], mac_address=port.get("mac_address", ""), tag=tag,
                     network_id=port.get("network_id", ""),
                     fixed_ips=tuple(ip["ip_address"] for ip in port.get("fixed_ips", ())),
                     mtu=int(port.get("mtu") or 1500), vif_type=str(port.get("binding:vif_type") or ""),
                     details={k: str(v) for k, v in (port.get("binding:vif_details") or {}).items()})


def _addresses(ports: list[dict]) -> dict:
    out: dict = {}
    for port in ports:
        for ip in port.get("fixed_ips", ()):
            addr = ip["ip_address"]
            out.setdefault(port.get("network_name") or port.get("network_id"), []).append(
                {"version": 6 if ":" in addr else 4, "addr": addr, "OS-EXT-IPS:type": "fixed",
                 "OS-EXT-IPS-MAC:mac_addr": port.get("mac_address")})
        for fip in port.get("floating_ips", ()):
            out.setdefault(port.get("network_name") or port.get("network_id"), []).append(
                {"version": 4, "addr": fip, "OS-EXT-IPS:type": "floating",
                 "OS-EXT-IPS-MAC:mac_addr": port.get("mac_address")})
    return out


def build_agents(settings: Settings, uow: UnitOfWorkFactory, bus: Bus, clients: dict, *, compute: bool = True,
                 scheduler: bool = True, hosts: list[str] | None = None, driver: str | None = None,
                 workers: int = 4) -> list[Agent]:
    """The compute host agent (for ``hosts``) and/or the scheduler, as agents of the reconcile loop."""
    agents = []
    if scheduler:
        agents.append(Agent("compute-scheduler", bus, [Scheduler(settings, uow, clients)], workers=workers,
                            resync_interval=10.0))
    if compute:
        name, why = resolve_driver_name(driver or settings.compute.driver)
        log.info("compute driver: %s (%s)", name, why)
        drivers = make_drivers(settings, hosts or host_names(settings), name, image_fetcher(clients),
                               image_resolver(clients))
        reconciler = InstanceReconciler(settings, uow, clients, drivers)
        agents.append(Agent("compute", bus, [reconciler], resync_interval=20.0,
                            workers=max(workers, settings.compute.max_concurrent_builds)))
        if isinstance(clients.get("compute"), ComputeClient):  # the API in this process reads consoles live
            clients["compute"].local_drivers.update(drivers)
        bus.subscribe(CONSOLE, reconciler.console_requested)
        bus.subscribe(VOLUME_EXTENDED, reconciler.volume_extended)
        bus.subscribe(NETWORK_CHANGED, reconciler.network_changed)
    return agents
