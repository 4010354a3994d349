"""``QemuGuestDriver``: compute guests as ``qemu-system-x86_64`` processes (KVM when a boot probe
proves it works, else TCG; see ``accel``).

A guest ``<uuid>`` lives in ``<state_dir>/guests/<uuid>/``: ``spec.json`` (the ``VmSpec`` its QEMU
command line is made from), ``disk.qcow2`` (overlay over the per-host cached raw base image),
``config.iso`` (config drive), ``console.log`` (serial console), ``qemu.pid`` and ``images.json``
(cache entries it holds).  QEMU runs daemonized, so guests survive an agent restart; ``adopt`` keeps
the known ones (found by pidfile, controlled through the QMP socket ``<run_dir>/<prefix><uuid>.qmp``)
and removes the others.

Images: the root image is a raw or qcow2 disk holding one filesystem (the cache converts qcow2 to a
raw base, as Nova's ``force_raw_images``).  With ``kernel_id``/``ramdisk_id`` properties (AMI-style,
as upstream; a snapshot finds them through its ``base_image_ref``) QEMU boots that kernel directly
with ``os_command_line`` (default ``console=ttyS0 root=/dev/vda rw``); without, the BIOS boots the disk.
Root filesystem tarballs boot only on the container driver.  Boot from volume: the volume with
``boot_index`` 0 is the root disk itself (never deleted here), booted with the kernel of the image it
was made from.

Power: stop = ACPI power button for ``timeout`` seconds, then QMP ``quit``; soft reboot = stop +
start (as Nova's libvirt driver); hard reboot = QMP ``system_reset``; pause = QMP ``stop``/``cont``.
Suspend is a ``stop`` too, marked as suspended: the guest's memory stays in the QEMU process (a
managed save to a file would free it, at the cost of writing all guest RAM on every suspend).
Snapshots flatten the overlay with ``qemu-img convert`` while the vCPUs are stopped (QEMU flushes the
disk on ``stop``).  Resize changes ``-m``/``-smp`` for the next QEMU start and grows the overlay.

Network: each ``Interface`` is a persistent tap ``details["devname"]`` (the network's name, which carries
its kernel object prefix as every device of the data plane; default ``<prefix>t<port>``, 15 characters),
joined to ``details["bridge_name"]`` when given (otherwise the network agent attaches it), opened by a
virtio-net device with the port's MAC; hot-plugged with ``netdev_add``/``device_add``, which works
while the vCPUs are stopped too (a paused server: the guest sees the device once it runs; an unplug is
requested at once and completed by the guest then).  Volumes: ``connection_info`` ``{"driver_volume_type": "file",
"path": ...}`` (or a block device path) attached as virtio-blk, hot-plugged with
``blockdev-add``/``device_add``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
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
from ..configdrive import write_config_drive
from ..container.errors import ContainerError
from ..container.imagecache import ImageCache, file_chunks
from . import accel, disks, process, vif
from .cmdline import Disk, Nic, VmSpec, device_id, netdev_id, nic_id, node_name
from .errors import QemuError
from .qmp import QmpClient

log = logging.getLogger(__name__)

DEFAULT_COMMAND_LINE = "console=ttyS0 root=/dev/vda rw"
QEMU_VERSION = 7_002_000
MIN_MEMORY_MB = 128
CONSOLE_MAX_BYTES = 4 << 20  # the console log is cut back to its tail at each QEMU start
ResolveImage = Callable[[str], ImageSpec | None]


class QemuGuestDriver(GuestDriver):
    name = "qemu"
    hypervisor_type = "QEMU"
    supports_pause = True
    supports_suspend = True  # vCPUs stopped, memory kept (see the module docstring)
    supports_snapshot = True
    supports_console_output = True
    supports_interface_attach = True
    supports_volume_attach = True
    supports_boot_from_volume = True

    def __init__(self, state_dir: str | Path, prefix: str = "oq", *, accel_mode: str = "auto",
                 binary: str = "qemu-system-x86_64", fetch_image: Callable[[ImageSpec], Iterable[bytes]] | None = None,
                 resolve_image: ResolveImage | None = None, image_cache_max_age: float = 24 * 3600.0,
                 stop_timeout: float = 30.0, unplug_timeout: float = 30.0, run_dir: str | Path | None = None,
                 vcpus: int = 0, memory_mb: int = 0, disk_gb: int = 0) -> None:
        if accel_mode not in ("auto", "tcg", "kvm"):
            raise ValueError(f"qemu_accel must be auto, tcg or kvm, not {accel_mode!r}")
        self.state_dir = Path(state_dir)
        self.guests_dir = self.state_dir / "guests"
        self.guests_dir.mkdir(parents=True, exist_ok=True)
        self.cache = ImageCache(self.state_dir / "images", max_unused_age=image_cache_max_age, mount=False)
        # unix socket paths must stay under 108 bytes, so the QMP sockets live in a short directory
        self.run_dir = Path(run_dir or "/run/onestack-qemu")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.accel_mode = accel_mode
        self.binary = binary
        self.fetch_image = fetch_image
        self.resolve_image = resolve_image
        self.stop_timeout = stop_timeout
        self.unplug_timeout = unplug_timeout
        self._overrides = (vcpus, memory_mb, disk_gb)
        self._accel: accel.Choice | None = None
        self._accel_lock = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------------ helpers

    def _dir(self, uuid: str) -> Path:
        if not uuid or "/" in uuid or uuid.startswith("."):
            raise GuestNotFound(f"guest {uuid!r} not found")
        return self.guests_dir / uuid

    @contextlib.contextmanager
    def _locked(self, uuid: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(uuid, threading.RLock())
        with lock:
            yield

    def _spec(self, uuid: str) -> VmSpec | None:
        try:
            return VmSpec.from_json((self._dir(uuid) / "spec.json").read_text())
        except FileNotFoundError:
            return None

    def _require(self, uuid: str) -> VmSpec:
        spec = self._spec(uuid)
        if spec is None:
            raise GuestNotFound(f"guest {uuid} not found")
        return spec

    def _save(self, spec: VmSpec) -> None:
        path = self._dir(spec.uuid) / "spec.json"
        tmp = path.with_name(f"spec.json.{threading.get_ident()}")
        tmp.write_text(spec.to_json())
        tmp.replace(path)

    def _qmp(self, spec: VmSpec) -> QmpClient:
        return QmpClient(spec.qmp, timeout=30)

    def _suspended_marker(self, uuid: str) -> Path:
        return self._dir(uuid) / "suspended"

    def accelerator(self, kernel: str | None = None) -> str:
        with self._accel_lock:  # one probe per host, not one per concurrent first spawn
            if self._accel is None or (self._accel.why.startswith("no kernel") and kernel):
                self._accel = accel.choose(self.accel_mode, self.state_dir / "accel.json", self.binary, kernel)
            return self._accel.accel

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
                             hypervisor_type=self.hypervisor_type, hypervisor_version=QEMU_VERSION,
                             cpu_info={"arch": os.uname().machine, "model": "qemu64", "vendor": "QEMU",
                                       "accel": self._accel.accel if self._accel else "unknown"})

    def list_guests(self) -> list[str]:
        return sorted(p.parent.name for p in self.guests_dir.glob("*/spec.json"))

    def adopt(self, known: set[str]) -> list[str]:
        """After a restart: guests the agent knows keep running (found again by pidfile and QMP socket);
        the others are removed.  Returns the removed uuids."""
        removed = []
        for uuid in self.list_guests():
            if uuid not in known:
                self.destroy(uuid)
                removed.append(uuid)
        for d in self.guests_dir.iterdir():  # half-built guests of a crashed spawn
            if d.is_dir() and not (d / "spec.json").exists() and d.name not in known:
                self._remove_dir(d.name)
        removed += self._kill_strays(set(self.list_guests()))
        for sock in self.run_dir.glob(f"{self.prefix}*.qmp"):
            if not (self.guests_dir / sock.name[len(self.prefix):-4]).exists():
                sock.unlink(missing_ok=True)
        return removed

    def _kill_strays(self, guests: set[str]) -> list[str]:
        """QEMU processes of this driver (found by their QMP socket path) whose guest is gone."""
        marker = f"unix:{self.run_dir / self.prefix}".encode()
        killed = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            qmp = next((a.decode(errors="replace") for a in args if a.startswith(marker)), None)
            uuid = qmp[len(marker):].split(".qmp", 1)[0] if qmp else None
            if uuid and uuid not in guests:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)
                killed.append(uuid)
        return killed

    # ------------------------------------------------------------------ lifecycle

    def spawn(self, guest: Guest, network_ready: Callable[[], None] | None = None) -> None:
        with self._locked(guest.uuid):
            spec = self._spec(guest.uuid)
            if spec is not None:
                if process.pid_of(spec) is None:
                    self._call(self._start, spec, network_ready)
                return
            try:
                self._create(guest, network_ready)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    self._destroy(guest.uuid)
                if isinstance(exc, GuestDriverError):
                    raise
                if isinstance(exc, (QemuError, ContainerError, OSError, ValueError)):
                    raise GuestDriverError(f"qemu spawn failed: {exc}") from exc
                raise

    def _create(self, guest: Guest, network_ready: Callable[[], None] | None = None) -> None:
        if guest.flavor.memory_mb < MIN_MEMORY_MB:  # a stock kernel hangs unpacking its initramfs below this
            raise GuestDriverError(f"QEMU guests need at least {MIN_MEMORY_MB} MB of RAM; the flavor has "
                                   f"{guest.flavor.memory_mb} MB")
        gdir = self._dir(guest.uuid)
        gdir.mkdir(parents=True, exist_ok=True)
        boot_volume = None
        if guest.image is None:  # boot from volume: the volume is the root disk, used in place
            boot_volume = next((v for v in guest.volumes if v.boot_index == 0 and v.connection_info), None)
            if boot_volume is None:
                raise GuestDriverError("the server has neither an image nor a boot volume")
            root_disk = self._disk(boot_volume)
            disk, disk_format = root_disk.path, root_disk.format
            kernel, initrd, append = self._kernel_files(guest.uuid, boot_volume.image)
        else:
            root = self._cached(self._bootable(guest.image), guest.uuid)
            disk, disk_format = str(gdir / "disk.qcow2"), "qcow2"
            disks.create_overlay(root, Path(disk), guest.flavor.root_gb << 30)
            kernel, initrd, append = self._kernel_files(guest.uuid, guest.image)
        tree = write_config_drive(gdir / "config", guest)
        disks.make_iso(tree, gdir / "config.iso")
        shutil.rmtree(tree)
        spec = VmSpec(uuid=guest.uuid, name=guest.name or guest.hostname or guest.uuid,
                      vcpus=max(1, guest.flavor.vcpus), memory_mb=guest.flavor.memory_mb,
                      disk=disk, disk_format=disk_format, serial_log=str(gdir / "console.log"),
                      qmp=str(self.run_dir / f"{self.prefix}{guest.uuid}.qmp"), pidfile=str(gdir / "qemu.pid"),
                      accel=self.accelerator(str(kernel) if kernel else None),
                      kernel=str(kernel or ""), initrd=str(initrd or ""), append=append if kernel else "",
                      config_drive=str(gdir / "config.iso"), nics=tuple(self._nic(i) for i in guest.interfaces),
                      volumes=tuple(self._disk(v) for v in guest.volumes if v.connection_info and v is not boot_volume))
        self._save(spec)
        self._start(spec, network_ready)

    @staticmethod
    def _bootable(image: ImageSpec) -> ImageSpec:
        if image.container_format == "compressed":
            raise GuestDriverError(f"image {image.id} is a root filesystem tarball, which only the container "
                                   "driver boots; use a disk image (e.g. onestack image build busybox-vm)")
        if image.disk_format in ("aki", "ari"):
            raise GuestDriverError(f"image {image.id} is a {image.disk_format} image, not a bootable disk")
        return image

    def _kernel_files(self, uuid: str, image: ImageSpec | None) -> tuple[Path | None, Path | None, str]:
        """(kernel, initrd, command line) named by the image's ``kernel_id``/``ramdisk_id`` (None, None:
        the BIOS boots the disk), held in the image cache for ``uuid``."""
        props = dict(image.properties) if image is not None else {}
        if not props.get("kernel_id") and props.get("base_image_ref") and self.resolve_image:
            base = self.resolve_image(props["base_image_ref"])  # a snapshot boots like its original
            if base is not None:
                for key in ("kernel_id", "ramdisk_id", "os_command_line"):
                    if base.properties.get(key) and not props.get(key):
                        props[key] = base.properties[key]
        kernel = initrd = None
        if props.get("kernel_id"):
            kernel = self._cached(self._lookup(props["kernel_id"], "aki"), uuid)
            if props.get("ramdisk_id"):
                initrd = self._cached(self._lookup(props["ramdisk_id"], "ari"), uuid)
        return kernel, initrd, props.get("os_command_line") or DEFAULT_COMMAND_LINE

    def _lookup(self, image_id: str, disk_format: str) -> ImageSpec:
        spec = self.resolve_image(image_id) if self.resolve_image else None
        if spec is None:
            raise GuestDriverError(f"{disk_format} image {image_id} not found")
        if spec.disk_format != disk_format:
            raise GuestDriverError(f"image {image_id} has disk_format {spec.disk_format}, expected {disk_format}")
        return spec

    def _cached(self, image: ImageSpec, user: str) -> Path:
        """The cached file of ``image``, held for guest ``user`` (recorded before it is acquired, so a
        failed spawn's cleanup releases it)."""
        held_file = self._dir(user) / "images.json"
        held = json.loads(held_file.read_text()) if held_file.exists() else []
        if image.id not in held:
            held_file.write_text(json.dumps([*held, image.id]))
        props = image.properties
        if image.path:
            fetch = file_chunks(image.path)
        elif self.fetch_image is not None:
            fetch_image = self.fetch_image

            def fetch() -> Iterable[bytes]:
                return fetch_image(image)
        else:
            data = self.cache.data(image.id)
            if not data.exists():
                raise GuestDriverError(f"image {image.id} has no data on this host")
            self.cache.acquire(image.id, user)
            return data
        try:
            self.cache.ensure(image.id, disk_format=image.disk_format or "raw",
                              container_format=image.container_format or "bare",
                              checksum=props.get("os_hash_value") or None,
                              hash_algo=props.get("os_hash_algo") or "sha512", fetch=fetch)
        except ContainerError as exc:
            raise GuestDriverError(str(exc)) from exc
        data = self.cache.data(image.id)
        if not data.exists():
            raise GuestDriverError(f"image {image.id} is not a disk image the QEMU driver can boot")
        self.cache.acquire(image.id, user)
        return data

    def _nic(self, iface: Interface) -> Nic:
        d = iface.details
        return Nic(tap=d.get("devname") or self.devname(iface.port_id), mac=iface.mac_address,
                   port_id=iface.port_id, mtu=iface.mtu or 0, bridge=d.get("bridge_name") or "")

    def devname(self, port_id: str) -> str:
        """The tap's name when the network names none: with this driver's prefix, as all its objects."""
        return f"{self.prefix}t{port_id}"[:15]

    @staticmethod
    def _disk(att: VolumeAttachment) -> Disk:
        ci = dict(att.connection_info)
        data = dict(ci.get("data") or {})  # type: ignore[call-overload]
        path = str(ci.get("path") or data.get("path") or data.get("device_path") or ci.get("device") or "")
        if not path:
            raise GuestDriverError(f"volume {att.volume_id} has no path in its connection info")
        kind = str(ci.get("driver_volume_type") or ci.get("driver") or "file")
        if kind not in ("file", "loop", "local", "block"):
            raise GuestDriverError(f"the QEMU driver cannot attach {kind} volumes")
        fmt = str(data.get("format") or ci.get("format") or "raw")
        if fmt not in ("raw", "qcow2"):
            raise GuestDriverError(f"volume format {fmt} is not supported")
        return Disk(volume_id=att.volume_id, path=path, format=fmt,
                    read_only=str(data.get("access_mode") or ci.get("access_mode") or "rw") == "ro")

    def _start(self, spec: VmSpec, network_ready: Callable[[], None] | None = None) -> None:
        for nic in spec.nics:
            vif.ensure_tap(nic.tap, nic.mtu or None, nic.bridge or None)
        if network_ready is not None:  # the taps exist: the network plugs them before the guest runs
            network_ready()
        self._suspended_marker(spec.uuid).unlink(missing_ok=True)
        console = Path(spec.serial_log)
        with contextlib.suppress(FileNotFoundError):
            if console.stat().st_size > CONSOLE_MAX_BYTES:
                tail = console.read_bytes()[-CONSOLE_MAX_BYTES // 2:]
                console.write_bytes(tail)
        process.start(spec, self.binary, self._dir(spec.uuid) / "qemu.log")

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except GuestDriverError:
            raise
        except (QemuError, OSError) as exc:
            raise GuestDriverError(str(exc)) from exc

    def destroy(self, uuid: str) -> None:
        with self._locked(uuid):
            self._call(self._destroy, uuid)

    def _destroy(self, uuid: str) -> None:
        gdir = self._dir(uuid)
        if not gdir.exists():
            return
        spec = self._spec(uuid)
        if spec is not None:
            process.stop(spec, 0)
            for nic in spec.nics:
                vif.delete_tap(nic.tap)
            Path(spec.qmp).unlink(missing_ok=True)
        self._remove_dir(uuid)

    def _remove_dir(self, uuid: str) -> None:
        gdir = self._dir(uuid)
        with contextlib.suppress(FileNotFoundError, ValueError):
            for image_id in json.loads((gdir / "images.json").read_text()):
                with contextlib.suppress(ContainerError, OSError):
                    self.cache.release(image_id, uuid)
        shutil.rmtree(gdir, ignore_errors=True)

    def power_on(self, uuid: str) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            if process.pid_of(spec) is None:
                self._call(self._start, spec)

    def power_off(self, uuid: str, timeout: float = 0) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            self._call(process.stop, spec, timeout)
            self._suspended_marker(uuid).unlink(missing_ok=True)

    def reboot(self, uuid: str, hard: bool = False) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            if process.pid_of(spec) is None:
                self._call(self._start, spec)
                return
            if hard:
                def reset() -> None:
                    with self._qmp(spec) as q:
                        q.execute("system_reset")
                        q.execute("cont")
                self._call(reset)
                self._suspended_marker(uuid).unlink(missing_ok=True)
                return
            self._call(process.stop, spec, self.stop_timeout)
            self._call(self._start, spec)

    def _vcpus(self, uuid: str, command: str, allowed: tuple[str, ...], suspended: bool | None) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            if process.pid_of(spec) is None:
                raise GuestDriverError(f"guest {uuid} is shut down")

            def run() -> None:
                with self._qmp(spec) as q:
                    status = q.execute("query-status")["status"]
                    if status not in allowed:
                        raise GuestDriverError(f"cannot {command} guest {uuid} while it is {status}")
                    q.execute(command)
            self._call(run)
            marker = self._suspended_marker(uuid)
            if suspended:
                marker.touch()
            elif suspended is False:
                marker.unlink(missing_ok=True)

    def pause(self, uuid: str) -> None:
        self._vcpus(uuid, "stop", ("running", "paused"), None)

    def unpause(self, uuid: str) -> None:
        self._vcpus(uuid, "cont", ("running", "paused"), False)

    def suspend(self, uuid: str) -> None:
        self._vcpus(uuid, "stop", ("running", "paused"), True)

    def resume(self, uuid: str) -> None:
        self._vcpus(uuid, "cont", ("running", "paused"), False)

    def info(self, uuid: str) -> GuestInfo:
        spec = self._require(uuid)
        pid = process.pid_of(spec)
        if pid is None:
            return GuestInfo(power_state=PowerState.SHUTDOWN, vcpus=spec.vcpus, memory_mb=spec.memory_mb)
        try:
            with self._qmp(spec) as q:
                status = q.execute("query-status")["status"]
        except QemuError:
            status = "running" if process.pid_of(spec) else "shutdown"
        if status == "paused":
            power = PowerState.SUSPENDED if self._suspended_marker(uuid).exists() else PowerState.PAUSED
        else:
            power = {"running": PowerState.RUNNING, "shutdown": PowerState.SHUTDOWN,
                     "guest-panicked": PowerState.CRASHED, "internal-error": PowerState.CRASHED,
                     "io-error": PowerState.CRASHED}.get(status, PowerState.NOSTATE)
        cpu_ns, uptime = 0, 0.0
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            hz = os.sysconf("SC_CLK_TCK")
            cpu_ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // hz
            boot = float(Path("/proc/uptime").read_text().split()[0])
            uptime = boot - int(fields[19]) / hz
        return GuestInfo(power_state=power, vcpus=spec.vcpus, memory_mb=spec.memory_mb, cpu_time_ns=cpu_ns,
                         uptime_s=max(0.0, uptime))

    # ------------------------------------------------------------------ resize

    def resize(self, uuid: str, flavor: FlavorSpec) -> None:
        """New vCPUs and memory from the next QEMU start; the root disk grows now (never shrinks; the
        filesystem on it is the guest's to grow)."""
        with self._locked(uuid):
            spec = self._require(uuid)
            size = flavor.root_gb << 30

            def grow() -> None:
                if spec.disk_format != "qcow2" or Path(spec.disk).parent != self._dir(uuid):
                    return  # a boot volume: its size is the block storage service's
                if not self._running(spec):
                    disks.grow(Path(spec.disk), size)
                    return
                with self._qmp(spec) as q:  # QEMU holds the image: it resizes it (the guest sees it now)
                    current = next(b["inserted"]["image"]["virtual-size"] for b in q.execute("query-block")
                                   if b.get("device") == "root")
                    if size > current:
                        q.execute("block_resize", {"device": "root", "size": size})
            self._call(grow)
            if flavor.memory_mb < MIN_MEMORY_MB:
                raise GuestDriverError(f"QEMU guests need at least {MIN_MEMORY_MB} MB of RAM")
            self._save(replace(spec, vcpus=max(1, flavor.vcpus), memory_mb=flavor.memory_mb))

    def prune_image_cache(self) -> list[str]:
        """Remove cached images no guest uses and nobody used for the cache's maximum age; their ids."""
        return self.cache.prune()

    # ------------------------------------------------------------------ optional

    def snapshot(self, uuid: str, path: str) -> str:
        """The root disk flattened to a standalone qcow2 (no backing file): only the clusters the base and the
        guest wrote, a few MB for the test image where a raw copy is the whole virtual disk (1 GiB and more
        to write, upload, hash, download and cache)."""
        with self._locked(uuid):
            spec = self._require(uuid)
            resume = False
            try:
                if process.pid_of(spec) is not None:
                    with self._qmp(spec) as q:
                        if q.execute("query-status")["status"] == "running":
                            q.execute("stop")  # drains and flushes the guest's disk writes
                            resume = True
                disks.convert(Path(spec.disk), Path(path), "qcow2", spec.disk_format)
            except QemuError as exc:
                raise GuestDriverError(f"snapshot failed: {exc}") from exc
            finally:
                if resume:
                    with contextlib.suppress(QemuError), self._qmp(spec) as q:
                        q.execute("cont")
            return "qcow2"

    def console_output(self, uuid: str, length: int | None = None) -> str:
        spec = self._require(uuid)
        try:
            with open(spec.serial_log, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(max(0, size - (CONSOLE_MAX_BYTES if length is None else 512 * max(length, 1))))
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        lines = [line.rstrip("\r") for line in text.replace("\r\n", "\n").split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        if length is not None:
            lines = lines[-length:] if length else []
        return "\n".join(lines) + ("\n" if lines else "")

    def _running(self, spec: VmSpec) -> bool:
        return process.pid_of(spec) is not None

    def _device_present(self, q: QmpClient, dev: str) -> bool:
        return any(p.get("name") == dev for p in q.execute("qom-list", {"path": "/machine/peripheral"}))

    def _unplug(self, q: QmpClient, dev: str) -> None:
        if not self._device_present(q, dev):
            return
        with contextlib.suppress(QemuError):
            q.execute("device_del", {"id": dev})
        deadline = time.monotonic() + self.unplug_timeout
        while self._device_present(q, dev):
            if time.monotonic() > deadline:
                raise GuestDriverError(f"the guest did not release {dev} within {self.unplug_timeout:.0f} s")
            time.sleep(0.1)

    def attach_interface(self, uuid: str, interface: Interface) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            nic = self._nic(interface)
            if any(n.port_id == nic.port_id for n in spec.nics):
                return

            def plug() -> None:
                vif.ensure_tap(nic.tap, nic.mtu or None, nic.bridge or None)
                if self._running(spec):
                    with self._qmp(spec) as q:
                        q.execute("netdev_add", {"type": "tap", "id": netdev_id(nic.port_id), "ifname": nic.tap,
                                                 "script": "no", "downscript": "no"})
                        args = {"driver": "virtio-net-pci", "netdev": netdev_id(nic.port_id), "mac": nic.mac,
                                "id": nic_id(nic.port_id)}
                        if nic.mtu:
                            args["host_mtu"] = nic.mtu
                        try:
                            q.execute("device_add", args)
                        except QemuError:
                            q.execute("netdev_del", {"id": netdev_id(nic.port_id)})
                            raise
            self._call(plug)
            self._save(replace(spec, nics=spec.nics + (nic,)))

    def detach_interface(self, uuid: str, port_id: str) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            nic = next((n for n in spec.nics if n.port_id == port_id), None)
            if nic is None:
                return

            def unplug() -> None:
                if self._running(spec):
                    with self._qmp(spec) as q:
                        if q.execute("query-status")["status"] == "running":
                            self._unplug(q, nic_id(port_id))
                        elif self._device_present(q, nic_id(port_id)):
                            # paused (stopped vCPUs): the guest answers the ACPI eject request once it
                            # runs again; the NIC has no backend from now on
                            with contextlib.suppress(QemuError):
                                q.execute("device_del", {"id": nic_id(port_id)})
                        with contextlib.suppress(QemuError):
                            q.execute("netdev_del", {"id": netdev_id(port_id)})
                vif.delete_tap(nic.tap)
            self._call(unplug)
            self._save(replace(spec, nics=tuple(n for n in spec.nics if n.port_id != port_id)))

    def attach_volume(self, uuid: str, attachment: VolumeAttachment) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            disk = self._disk(attachment)
            if any(v.volume_id == disk.volume_id for v in spec.volumes):
                return
            try:
                mode = os.stat(disk.path).st_mode
            except OSError as exc:
                raise GuestDriverError(f"volume {disk.volume_id}: {exc.strerror}: {disk.path}") from None

            def plug() -> None:
                if not self._running(spec):
                    return
                protocol = "host_device" if stat.S_ISBLK(mode) else "file"
                node = node_name(disk.volume_id)
                with self._qmp(spec) as q:
                    q.execute("blockdev-add", {"node-name": node, "driver": disk.format, "read-only": disk.read_only,
                                               "file": {"driver": protocol, "filename": disk.path}})
                    try:
                        q.execute("device_add", {"driver": "virtio-blk-pci", "drive": node,
                                                 "id": device_id(disk.volume_id), "serial": disk.volume_id[:20]})
                    except QemuError:
                        q.execute("blockdev-del", {"node-name": node})
                        raise
            self._call(plug)
            self._save(replace(spec, volumes=spec.volumes + (disk,)))

    def extend_volume(self, uuid: str, volume_id: str, new_size_bytes: int) -> None:
        """``block_resize`` the volume's node: QEMU re-reads the grown file and the virtio-blk device
        reports the new capacity to the guest (a stopped guest opens the grown file at its next start)."""
        with self._locked(uuid):
            spec = self._require(uuid)
            if not any(v.volume_id == volume_id for v in spec.volumes):
                return

            def resize() -> None:
                if not self._running(spec):
                    return
                node = node_name(volume_id)
                with self._qmp(spec) as q:
                    try:  # hot-plugged: a blockdev-add node of that name
                        q.execute("block_resize", {"node-name": node, "size": new_size_bytes})
                    except QemuError:  # attached at start: a -drive whose backend has that id
                        q.execute("block_resize", {"device": node, "size": new_size_bytes})
            self._call(resize)

    def detach_volume(self, uuid: str, volume_id: str) -> None:
        with self._locked(uuid):
            spec = self._require(uuid)
            if not any(v.volume_id == volume_id for v in spec.volumes):
                return

            def unplug() -> None:
                if not self._running(spec):
                    return
                with self._qmp(spec) as q:
                    self._unplug(q, device_id(volume_id))
                    with contextlib.suppress(QemuError):
                        q.execute("blockdev-del", {"node-name": node_name(volume_id)})
            self._call(unplug)
            self._save(replace(spec, volumes=tuple(v for v in spec.volumes if v.volume_id != volume_id)))
