"""``ContainerGuestDriver``: compute guests as LXC system containers (see ``runtime``).

A guest ``<uuid>`` is the LXC container ``<prefix><uuid>`` under ``state_dir``; its image comes from the
per-host ``ImageCache`` (fetched from ``ImageSpec.path`` when the agent made a local copy, else through
the ``fetch_image`` callable the agent injects), its config drive is written into the guest directory,
and the flavor becomes cgroup limits and the size of the root disk.

Network: each ``Interface`` becomes a veth pair made before the guest starts; the host end is named
``details["devname"]`` (the network's name, which carries its kernel object prefix; default
``<prefix>t<port_id>``, 15 characters) and joins
``details["bridge_name"]`` when given (else the network agent attaches it); ``spawn`` calls
``network_ready`` in between, so the guest's init runs once its port is ACTIVE. The other end is made
inside the guest's network namespace as ``eth<i>`` with the port's MAC; a stop ends the namespace and the
pair with it (as a VM's tap), a start makes both again. The guest configures it by DHCP, or statically when
its config drive says so (``details["ipv4_cidr"]`` and ``details["gateway"]``).

Suspend: upstream's suspend saves the guest's memory to disk and frees it (libvirt's managed save);
resume restores it. A container's equivalent would be a CRIU checkpoint, which is not installed here and
needs capabilities root lacks on these hosts (CAP_SYS_RESOURCE). So suspend freezes every process of the
guest with the cgroup freezer, as pause does, and records it, so the server reads SUSPENDED across agent
restarts: the guest uses no CPU but keeps its memory, and a host reboot boots it afresh.

Console: LXC writes the guest's console to ``console.log`` in its directory, bounded (rotated once to
``console.log.1`` past 1 MiB); ``console_output`` reads the live tail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from ..base import (
    FlavorSpec,
    Guest,
    GuestDriver,
    GuestDriverError,
    GuestInfo,
    GuestNotFound,
    HostResources,
    ImageSpec,
    Interface,
    PowerState,
    VolumeAttachment,
)
from ..configdrive import scrub, write_config_drive
from . import blockdev, cgroups
from .blockdev import BlockDevice
from .cgroups import Limits
from .errors import ContainerError, NotFound
from .guestinit import ensure_runtime_layer
from .imagecache import ImageCache, file_chunks
from .runtime import ABSENT, FROZEN, RUNNING, ContainerSpec, Nic, Runtime

log = logging.getLogger(__name__)

DEFAULT_ROOT_GB = 1
DEFAULT_PIDS_MAX = 4096
DHCP_PENDING = "dhcp-pending"  # NICs hot-plugged into a frozen guest: "<ifname> <mac>" lines, DHCP at thaw
LXC_VERSION = 5_000_002  # reported as hypervisor_version; refined from lxc-start --version


class ContainerGuestDriver(GuestDriver):
    name = "container"
    hypervisor_type = "lxc"
    supports_pause = True
    supports_suspend = True  # freezer-based (see the module docstring)
    supports_snapshot = True
    supports_console_output = True
    supports_volume_attach = True
    supports_interface_attach = True
    supports_boot_from_volume = True
    volume_connection = "loop"  # volumes arrive as host block devices (loop devices of the file backend)

    def __init__(self, state_dir: str | Path, prefix: str = "os", *, image_cache_max_age: float = 24 * 3600.0,
                 fetch_image: Callable[[ImageSpec], Iterable[bytes]] | None = None, stop_timeout: float = 10.0,
                 vcpus: int = 0, memory_mb: int = 0, disk_gb: int = 0) -> None:
        self.state_dir = Path(state_dir)
        self.runtime = Runtime(self.state_dir / "guests", prefix, stop_timeout=stop_timeout,
                               disk_templates=True)
        self.cache = ImageCache(self.state_dir / "images", max_unused_age=image_cache_max_age)
        self.fetch_image = fetch_image
        self._overrides = (vcpus, memory_mb, disk_gb)
        self._layer: Path | None = None

    # ------------------------------------------------------------------ helpers

    def _name(self, uuid: str) -> str:
        return self.runtime.prefix + uuid

    def _dir(self, uuid: str) -> Path:
        try:
            return self.runtime.dir(self._name(uuid))
        except ContainerError as exc:
            raise GuestNotFound(str(exc)) from None

    def _exists(self, uuid: str) -> bool:
        return (self._dir(uuid) / "spec.json").exists()

    def _require(self, uuid: str) -> str:
        if not self._exists(uuid):
            raise GuestNotFound(f"guest {uuid} not found")
        return self._name(uuid)

    def _runtime_layer(self) -> Path:
        if self._layer is None:
            self._layer = ensure_runtime_layer(self.state_dir / "runtime")
        return self._layer

    # ------------------------------------------------------------------ host

    def host_resources(self) -> HostResources:
        vcpus, memory_mb, disk_gb = self._overrides
        if not memory_mb:
            with open("/proc/meminfo") as f:
                memory_mb = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) // 1024
        if not disk_gb:
            st = os.statvfs(self.state_dir)
            disk_gb = st.f_blocks * st.f_frsize >> 30
        return HostResources(vcpus=vcpus or os.cpu_count() or 1, memory_mb=memory_mb, disk_gb=disk_gb,
                             hypervisor_type=self.hypervisor_type, hypervisor_version=LXC_VERSION,
                             cpu_info={"arch": os.uname().machine, "model": "container", "vendor": "linux"})

    def list_guests(self) -> list[str]:
        n = len(self.runtime.prefix)
        return [name[n:] for name in self.runtime.names()]

    def adopt(self, known: set[str]) -> list[str]:
        """After a restart: keep the guests the agent knows, remove the others; returns removed uuids."""
        _, removed = self.runtime.adopt({self._name(u) for u in known})
        live = set(self.runtime.names())
        for img in self.cache.list():  # the removed guests' (and any a crash left) hold on cached images
            for user in img.users:
                if user.startswith(self.runtime.prefix) and user not in live:
                    self.cache.release(img.image_id, user)
        n = len(self.runtime.prefix)
        return [r[n:] for r in removed]

    def resize(self, uuid: str, flavor: FlavorSpec) -> None:
        """The new flavor on the same guest, files kept (the agent's fallback, destroy and spawn, would start
        from the image again): new cgroup limits and a larger root disk, grown offline after a copy of it is
        kept for ``revert_resize`` until ``confirm_resize`` (a running guest restarts); the root disk never
        shrinks, and a root volume's size is the block storage service's (limits applied live)."""
        self._resize(uuid, flavor, self.runtime.resize)

    def revert_resize(self, uuid: str, flavor: FlavorSpec) -> None:
        """Back to the flavor before the resize: its limits and the root disk as it was then (kept by
        ``resize``: its size and content), as Nova's revert goes back to the source disk."""
        self._resize(uuid, flavor, self.runtime.revert_resize)

    def confirm_resize(self, uuid: str) -> None:
        """The resize is final: the root disk kept for a revert is removed (nothing to do for a guest gone)."""
        if self._exists(uuid):
            try:
                self.runtime.confirm_resize(self._name(uuid))
            except (ContainerError, OSError) as exc:
                raise GuestDriverError(f"container confirm resize failed: {exc}") from exc

    def _resize(self, uuid: str, flavor: FlavorSpec, step: Callable[[str, Limits, int], None]) -> None:
        name = self._require(uuid)
        spec = self.runtime.spec(name)
        limits = Limits(vcpus=max(1, flavor.vcpus), memory_mb=max(16, flavor.memory_mb),
                        pids_max=int(flavor.extra_specs.get("quota:pids_max", DEFAULT_PIDS_MAX)))
        disk = spec.disk_bytes if spec.root_device is not None else (flavor.root_gb or DEFAULT_ROOT_GB) << 30
        try:
            step(name, limits, disk)
        except (ContainerError, OSError) as exc:
            raise GuestDriverError(f"container resize failed: {exc}") from exc

    def prune_image_cache(self) -> list[str]:
        """Remove cached images no guest uses and nobody used for the cache's maximum age; their ids."""
        return self.cache.prune()

    # ------------------------------------------------------------------ lifecycle

    def spawn(self, guest: Guest, network_ready: Callable[[], None] | None = None) -> None:
        name = self._name(guest.uuid)
        try:
            devices, root = self._volumes(guest)
            if self._exists(guest.uuid):
                if self.runtime.state(name) not in (RUNNING, FROZEN):
                    spec = self.runtime.spec(name)
                    if guest.volumes or spec.devices:  # loop devices may differ after a host restart
                        self.runtime.define(replace(spec, devices=devices, root_device=root or spec.root_device),
                                            fresh_disk=False)
                    self.runtime.start(name, network_ready)
                return
            if guest.image is None and root is None:
                raise GuestDriverError("the server has neither an image nor a root volume")
            gdir = self.runtime.dir(name)
            if not gdir.exists() and not self.runtime.take(name):  # (a destroyed guest's, emptied, if any)
                gdir.mkdir(parents=True, exist_ok=True)
            if guest.image is not None:
                lowers: tuple[Path, ...] = (self._runtime_layer(), self._image_lower(guest.image))
                self.cache.acquire(guest.image.id, name)  # (its marker is how destroy finds the image)
            else:
                lowers = (self._runtime_layer(),)  # the root volume is the whole root filesystem
                self._prepare_root_volume(next(v for v in guest.volumes if v.boot_index == 0))
            drive = self._write_config_drive(gdir / "config-drive", guest)
            cmdline = (guest.image.properties if guest.image is not None else {}).get("os_command_line")
            spec = ContainerSpec(
                name=name, hostname=guest.hostname or guest.name or "guest",
                lowers=lowers, devices=devices, root_device=root,
                limits=Limits(vcpus=max(1, guest.flavor.vcpus), memory_mb=max(16, guest.flavor.memory_mb),
                              pids_max=int(guest.flavor.extra_specs.get("quota:pids_max", DEFAULT_PIDS_MAX))),
                disk_bytes=(guest.flavor.root_gb or DEFAULT_ROOT_GB) << 30,
                nics=tuple(self._nic(i, iface) for i, iface in enumerate(guest.interfaces)),
                config_drive=drive,
                init=tuple(shlex.split(cmdline)) if cmdline else None,
            )
            self.runtime.define(spec)
            self.runtime.start(name, network_ready, spec=spec)
        except GuestDriverError:
            self._cleanup_failed(guest.uuid)
            raise
        except (ContainerError, OSError, ValueError) as exc:
            self._cleanup_failed(guest.uuid)
            raise GuestDriverError(f"container spawn failed: {exc}") from exc

    @staticmethod
    def _device_of(attachment: VolumeAttachment) -> str:
        info = attachment.connection_info
        device = info.get("device") or (info.get("data") or {}).get("device")  # type: ignore[union-attr]
        if not device:
            raise GuestDriverError(f"volume {attachment.volume_id} has no host block device (the container "
                                   "driver needs a 'loop' connection)")
        return str(device)

    def _volumes(self, guest: Guest) -> tuple[tuple[BlockDevice, ...], str | None]:
        devices, root = [], None
        for v in guest.volumes:
            if v.boot_index == 0 and guest.image is None:
                root = self._device_of(v)
            else:
                devices.append(BlockDevice(path=v.device, source=self._device_of(v), volume_id=v.volume_id))
        return tuple(devices), root

    def _prepare_root_volume(self, root: VolumeAttachment) -> None:
        """A root volume made from an image that is not a disk (a root filesystem tarball) gets that
        image's tree as an ext4 filesystem on its first boot; a volume with a filesystem is used as is."""
        device = self._device_of(root)
        if blockdev.fs_type(device):
            return
        if root.image is None:
            raise GuestDriverError(f"the root volume {root.volume_id} holds no filesystem to boot")
        holder = f"format-{root.volume_id}"
        lower = self._image_lower(root.image)
        self.cache.acquire(root.image.id, holder)
        try:
            blockdev.format_from_tree(device, lower)
        finally:
            with contextlib.suppress(ContainerError):
                self.cache.release(root.image.id, holder)

    def attach_volume(self, uuid: str, attachment: VolumeAttachment) -> None:
        name = self._require(uuid)
        dev = BlockDevice(path=attachment.device, source=self._device_of(attachment), volume_id=attachment.volume_id)
        try:
            spec = self.runtime.spec(name)
            devices = tuple(d for d in spec.devices if d.volume_id != dev.volume_id and d.path != dev.path)
            state = self.runtime.state(name)
            if state == FROZEN:
                raise GuestDriverError("the server is paused: attach the volume once it runs again")
            if state == RUNNING:
                self.runtime.plug(name, dev)
            self.runtime.define(replace(spec, devices=devices + (dev,)), fresh_disk=False)
        except ContainerError as exc:
            raise GuestDriverError(f"volume attach failed: {exc}") from exc

    def detach_volume(self, uuid: str, volume_id: str) -> None:
        name = self._require(uuid)
        try:
            spec = self.runtime.spec(name)
            for dev in spec.devices:
                if dev.volume_id == volume_id:
                    self.runtime.unplug(name, dev)
            self.runtime.define(replace(spec, devices=tuple(d for d in spec.devices if d.volume_id != volume_id)),
                                fresh_disk=False)
        except ContainerError as exc:
            raise GuestDriverError(f"volume detach failed: {exc}") from exc

    def attach_interface(self, uuid: str, interface: Interface) -> None:
        """The port's veth pair, its guest end hot-plugged as the next free ``eth<i>``, running or paused
        (a frozen guest's namespace takes the link as well). The guest's init configures NICs only at boot,
        so the driver runs DHCP on the new one inside the guest: at once when it runs, after ``unpause``
        (or ``resume``) when it is frozen; the config drive's NIC list gets it, so the init configures it at
        every later start (a stopped guest's NIC is made at its next start)."""
        name = self._require(uuid)
        try:
            spec = self.runtime.spec(name)
            nic = self._nic(len(spec.nics), interface)
            if any(n.host_name == nic.host_name for n in spec.nics):
                return
            ifname = self.runtime.plug_nic(name, nic)
            self.runtime.define(replace(spec, nics=spec.nics + (nic,)), fresh_disk=False)
            self._config_drive_nics(spec, add=(ifname or f"eth{len(spec.nics)}", nic.mac))
            if ifname is None:
                return
            if self.runtime.state(name) == RUNNING:
                self._dhcp(name, [ifname])
            else:  # frozen: once it runs again
                with (self.runtime.dir(name) / DHCP_PENDING).open("a") as f:
                    f.write(f"{ifname} {nic.mac}\n")
        except ContainerError as exc:
            raise GuestDriverError(f"interface attach failed: {exc}") from exc

    def _dhcp(self, name: str, ifnames: list[str]) -> None:
        """Start the guest's DHCP client (its init as the hook, as at boot) on hot-plugged NICs."""
        script = "; ".join(f"/.onestack/busybox udhcpc -b -T 1 -t 5 -O staticroutes -i {n} -s /.onestack/init "
                           f">/dev/null 2>&1" for n in ifnames)
        self.runtime.attach(name, ["/.onestack/busybox", "sh", "-c", script])

    def _pending_dhcp(self, name: str) -> None:
        """After a thaw: DHCP on the NICs hot-plugged while the guest was frozen."""
        path = self.runtime.dir(name) / DHCP_PENDING
        try:
            lines = path.read_text().split("\n")
        except FileNotFoundError:
            return
        macs = {n.mac for n in self.runtime.spec(name).nics}
        ifnames = [f[0] for f in (line.split() for line in lines) if len(f) == 2 and f[1] in macs]
        if ifnames and self.runtime.state(name) == RUNNING:
            self._dhcp(name, ifnames)
        path.unlink(missing_ok=True)

    def _config_drive_nics(self, spec, add: tuple[str, str] | None = None, remove: set[str] = frozenset()) -> None:
        """Keep the config drive's flat NIC list (``onestack/net``, read by the guest init at boot) in step
        with hot-plugged NICs: ``add`` (ifname, MAC) as a DHCP NIC, drop the lines of the MACs ``remove``."""
        if spec.config_drive is None:
            return
        path = Path(spec.config_drive) / "onestack" / "net"
        with contextlib.suppress(FileNotFoundError):
            lines = [line for line in path.read_text().splitlines()
                     if line.strip() and (line.split() + ["", ""])[1] not in remove]
            if add is not None and not any((line.split() + ["", ""])[1] == add[1] for line in lines):
                lines.append(f"{add[0]} {add[1]} dhcp - -")
            path.write_text("".join(line + "\n" for line in lines))

    def detach_interface(self, uuid: str, port_id: str) -> None:
        name = self._require(uuid)
        try:
            spec = self.runtime.spec(name)
            gone = [n for n in spec.nics if n.port_id == port_id or (not n.port_id and n.host_name.startswith(
                f"tap{port_id[:11]}"))]  # (NICs recorded before port ids were)
            for nic in gone:
                self.runtime.unplug_nic(name, nic)
            self.runtime.define(replace(spec, nics=tuple(n for n in spec.nics if n not in gone)), fresh_disk=False)
            self._config_drive_nics(spec, remove={n.mac for n in gone})
        except ContainerError as exc:
            raise GuestDriverError(f"interface detach failed: {exc}") from exc

    def _cleanup_failed(self, uuid: str) -> None:
        """Remove what a failed spawn made. LXC may still be finishing that start (its monitor ending, its
        post-stop hooks writing to the guest's directory) while we remove it: a failed removal is retried
        a few times, then logged (the agent's delete, or the next adopt, removes what is left)."""
        for delay in (0.2, 0.5, 1.0, None):
            try:
                self.destroy(uuid)
                return
            except Exception as exc:  # the spawn's own error is the one the caller reports
                if delay is None:
                    log.warning("removing the failed guest %s left something behind: %s", uuid, exc)
                    return
                time.sleep(delay)

    def _image_lower(self, image: ImageSpec) -> Path:
        props = image.properties
        if image.path:
            fetch = file_chunks(image.path)
        elif self.fetch_image is not None:
            fetch_image = self.fetch_image

            def fetch() -> Iterable[bytes]:
                return fetch_image(image)
        else:
            cached = self.cache.lower(image.id)
            if cached is None:
                raise GuestDriverError(f"image {image.id} has no data on this host")
            return cached
        return self.cache.ensure(image.id, disk_format=image.disk_format or "raw",
                                 container_format=image.container_format or "bare",
                                 checksum=props.get("os_hash_value") or None,
                                 hash_algo=props.get("os_hash_algo") or "sha512", fetch=fetch)

    def _nic(self, index: int, iface) -> Nic:
        d = iface.details
        return Nic(host_name=d.get("devname") or self.devname(iface.port_id), mac=iface.mac_address,
                   bridge=d.get("bridge_name") or None, mtu=iface.mtu or None, port_id=iface.port_id)

    def devname(self, port_id: str) -> str:
        """The host end's name when the network names none: with this driver's prefix, as all its objects."""
        return f"{self.runtime.prefix}t{port_id}"[:15]

    def _write_config_drive(self, root: Path, guest: Guest) -> Path:
        return write_config_drive(root, guest)

    def destroy(self, uuid: str) -> None:
        name = self._name(uuid)
        try:
            self.runtime.dir(name)
        except ContainerError:
            return
        try:
            self.runtime.destroy(name, scrub=lambda gdir: scrub(gdir / "config-drive"))  # (kept for a new guest)
        except ContainerError as exc:
            raise GuestDriverError(f"container destroy failed: {exc}") from exc
        for image_id in self.cache.used_by(name):  # its image: the cache's marker made at spawn records it
            with contextlib.suppress(ContainerError):
                self.cache.release(image_id, name)

    def power_on(self, uuid: str) -> None:
        self._call(self.runtime.start, self._require(uuid))

    def power_off(self, uuid: str, timeout: float = 0) -> None:
        name = self._require(uuid)
        self._call(lambda: self.runtime.stop(name, timeout=timeout, force=timeout <= 0))
        self._forget_pending_dhcp(name)

    def reboot(self, uuid: str, hard: bool = False) -> None:
        name = self._require(uuid)
        self._call(lambda: self.runtime.reboot(name, hard=hard))
        self._forget_pending_dhcp(name)

    def _forget_pending_dhcp(self, name: str) -> None:
        """A guest (re)started configures every NIC from the config drive: nothing is left for a thaw."""
        with contextlib.suppress(ContainerError):
            (self.runtime.dir(name) / DHCP_PENDING).unlink(missing_ok=True)

    def pause(self, uuid: str) -> None:
        self._call(self.runtime.pause, self._require(uuid))

    def unpause(self, uuid: str) -> None:
        name = self._require(uuid)
        self._call(self.runtime.unpause, name)
        self._call(self._pending_dhcp, name)

    def suspend(self, uuid: str) -> None:
        self._call(self.runtime.suspend, self._require(uuid))

    def resume(self, uuid: str) -> None:
        name = self._require(uuid)
        self._call(self.runtime.resume, name)
        self._call(self._pending_dhcp, name)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except NotFound as exc:
            raise GuestNotFound(str(exc)) from None
        except ContainerError as exc:
            raise GuestDriverError(str(exc)) from exc

    def info(self, uuid: str) -> GuestInfo:
        name = self._require(uuid)
        state, pid = self.runtime.observe(name)
        if state == ABSENT:
            raise GuestNotFound(f"guest {uuid} not found")
        spec = self.runtime.spec(name)
        power = {RUNNING: PowerState.RUNNING, FROZEN: PowerState.PAUSED}.get(state, PowerState.SHUTDOWN)
        if state == FROZEN and self.runtime.is_suspended(name):
            power = PowerState.SUSPENDED
        cpu_ns, uptime = 0, 0.0
        if state in (RUNNING, FROZEN):
            d = cgroups.guest_dir(pid, "cpuacct") if pid else None
            with contextlib.suppress(OSError, ValueError, TypeError):
                cpu_ns = int((d / "cpuacct.usage").read_text())  # type: ignore[operator]
            with contextlib.suppress(OSError):
                uptime = time.time() - os.stat(f"/proc/{pid}").st_mtime
        return GuestInfo(power_state=power, vcpus=spec.limits.vcpus, memory_mb=spec.limits.memory_mb,
                         cpu_time_ns=cpu_ns, uptime_s=max(0.0, uptime))

    # ------------------------------------------------------------------ optional

    def snapshot(self, uuid: str, path: str) -> str:
        """The guest's root filesystem as a raw disk image (one ext4 filesystem), the format the API
        registers snapshots with and this driver boots (the image cache loop-mounts it read-only)."""
        name = self._require(uuid)
        spec = self.runtime.spec(name)
        disk = self.runtime.disk(name)
        was_mounted = disk.rootfs.exists() and self.runtime.state(name) in (RUNNING, FROZEN)
        tree = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=self.state_dir))
        try:
            rootfs = self.runtime.mount_rootfs(name, spec)
            # the tree without what the runtime adds (its layer, the config drive, API filesystems)
            r = subprocess.run(f"tar -C {shlex.quote(str(rootfs))} --numeric-owner --one-file-system "
                               "--exclude=./.onestack --exclude='./mnt/config/*' --exclude='./proc/*' "
                               "--exclude='./sys/*' --exclude='./dev/*' -cf - . | "
                               f"tar -C {shlex.quote(str(tree))} --numeric-owner -xpf -",
                               shell=True, capture_output=True, text=True, timeout=3600)
            if r.returncode not in (0, 1):  # 1: files changed while reading (a running guest)
                raise GuestDriverError(f"snapshot failed: {r.stderr.strip()[-300:]}")
            used = int(subprocess.run(["du", "-sb", str(tree)], capture_output=True, text=True).stdout.split()[0])
            size = max(64 << 20, (used * 13 // 10 + (32 << 20)) >> 20 << 20)
            with open(path, "wb") as f:
                f.truncate(size)
            r = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-d", str(tree), path], capture_output=True,
                               text=True, timeout=3600)
            if r.returncode != 0:
                raise GuestDriverError(f"snapshot failed: {r.stderr.strip()[-300:]}")
        except ContainerError as exc:
            raise GuestDriverError(f"snapshot failed: {exc}") from exc
        finally:
            shutil.rmtree(tree, ignore_errors=True)
            if not was_mounted and self.runtime.state(name) not in (RUNNING, FROZEN):
                with contextlib.suppress(ContainerError):
                    disk.unmount()
        return "raw"

    def console_output(self, uuid: str, length: int | None = None) -> str:
        return self.runtime.console_tail(self._require(uuid), length)
