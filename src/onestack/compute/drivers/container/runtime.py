"""System containers on LXC (Debian's ``lxc`` 5): one guest = one LXC container in a private lxcpath.

Why LXC rather than raw namespaces: LXC does the security-sensitive parts that a hand-rolled
``unshare`` launcher would have to re-implement (devices cgroup allow-list, capability drops and the
seccomp profile from Debian's ``common.conf``, an autodev /dev, pivot_root, a console pty logged to a
file, cgroup v1 *and* v2), it starts a guest in ~0.03 s, and its per-guest monitor daemonizes, so guests
outlive an onestack restart and are adopted from ``lxc-info`` afterwards.

Each guest has its own pid, mount, uts, ipc and network namespaces, its cgroups nested under this
process's cgroup (named after the guest), an overlay root over read-only lower layers with a sized
upper disk (``overlay.RootDisk``), a config drive bind-mounted read-only at ``/mnt/config`` and a console
log. Names must start with the runtime's prefix: ``adopt`` removes any prefixed guest it is not told
about, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import blockdev, cgroups, links, procview
from .blockdev import BlockDevice
from .cgroups import Limits
from .errors import ContainerError, NotFound
from .guestinit import BUILTIN_INIT, INIT_HEADER
from .overlay import DiskTemplates, RootDisk, mounts_below

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
COMMON_CONF = Path("/usr/share/lxc/config/common.conf")
LXCFS_PROC = "/var/lib/lxcfs/proc"  # lxcfs's files, when its daemon runs
CONSOLE_LOG_BYTES = 1 << 20
HALT_RETRY = 5.0  # seconds between halt signals of a clean stop

RUNNING, STOPPED, FROZEN, ABSENT = "RUNNING", "STOPPED", "FROZEN", "ABSENT"
# What a destroyed guest's directory keeps for the next guest (``Runtime.destroy``): empty files and
# directories. On an ext4 without a journal every new inode scans the inodes deleted in the last minutes,
# about half a millisecond of CPU each on a busy host: a boot made and a destroy deleted some twenty.
# (an empty config and pid file read as a stopped guest; spec.json goes, as the next spec's temporary file)
RECYCLED_FILES = ("config", "pid", "console.log", "console.log.1", "lxc.log", "disk.img", ".disk.img.tmp",
                  "spec.json", "spec.json.tmp")
RECYCLED_DIRS = ("disk", "rootfs", "config-drive")  # (the caller's scrub empties config-drive)
SPARE_LIMIT = 64  # directories kept at most


@dataclass(frozen=True)
class Nic:
    """A veth pair: its host end, and ``eth<i>`` (the i-th NIC) in the guest with the port's MAC; the guest
    configures it (DHCP, or static from its config drive)."""
    host_name: str
    mac: str
    bridge: str | None = None  # the bridge the host end joins (None: left unattached)
    mtu: int | None = None
    port_id: str = ""  # the network port it is (detach finds the NIC by it)

    @classmethod
    def from_dict(cls, d: dict) -> Nic:
        # (specs written before NICs were only veth pairs have "kind", "ipv4" and "gateway": always unset)
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    hostname: str
    lowers: tuple[Path, ...]  # read-only layers, top first
    limits: Limits = field(default_factory=Limits)
    disk_bytes: int = 1 << 30
    nics: tuple[Nic, ...] = ()
    config_drive: Path | None = None
    init: tuple[str, ...] | None = None  # None: the image's /sbin/init if it has one, else the built-in init
    devices: tuple[BlockDevice, ...] = ()  # volumes: host block devices the guest sees as /dev/vdX
    root_device: str | None = None  # a volume holding the root filesystem (instead of the overlay root)

    def to_json(self) -> str:
        d = asdict(self)
        d["lowers"] = [str(p) for p in self.lowers]
        d["config_drive"] = str(self.config_drive) if self.config_drive else None
        return json.dumps(d, indent=1)

    @classmethod
    def from_json(cls, text: str) -> ContainerSpec:
        d = json.loads(text)
        return cls(name=d["name"], hostname=d["hostname"], lowers=tuple(Path(p) for p in d["lowers"]),
                   limits=Limits(**d["limits"]), disk_bytes=d["disk_bytes"],
                   nics=tuple(Nic.from_dict(n) for n in d["nics"]),
                   config_drive=Path(d["config_drive"]) if d["config_drive"] else None,
                   init=tuple(d["init"]) if d["init"] else None,
                   devices=tuple(BlockDevice(**b) for b in d.get("devices") or ()),
                   root_device=d.get("root_device"))


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    """A started command's output once it exits (killed past ``timeout``)."""
    try:
        return proc.communicate(timeout=timeout)[0] or ""
    except subprocess.TimeoutExpired:
        proc.kill()
        return (proc.communicate()[0] or "") + f"\n(killed after {timeout}s)"


class StartGate:
    """Holds a starting guest's init until the host is ready for it.

    A pipe this process holds both ends of, and an LXC ``start-host`` hook (run once the container is set
    up, just before its init) that reads one line from it through ``/proc/<our pid>/fd/<read end>``: the
    word of this start (``go`` and a token) lets the init run; anything else, end of file (onestack died:
    the pipe closed) or no word within the hook's timeout fails the start. Holding the read end too, the
    host never waits for the hook when it writes: the word waits in the pipe. Nothing is made in the
    guest's directory (a FIFO and a hook script were two new inodes, and two deleted ones, at every start:
    costly on a busy ext4); the hook is a command line in the config, named after the guest's gate
    (``<guest dir>/start-gate``, its ``$0``), which LXC runs with ``sh -c``."""

    def __init__(self, guest_dir: Path, timeout: float) -> None:
        self.label = guest_dir / "start-gate"
        self.timeout = timeout
        self.hook = ""
        self._word = ""
        self._fds: tuple[int, int] | None = None

    def __enter__(self) -> StartGate:
        self._fds = os.pipe()  # (close-on-exec: no other child inherits it)
        self._word = f"go {secrets.token_hex(8)}"
        source = f"/proc/{os.getpid()}/fd/{self._fds[0]}"
        # one process (LXC's "sh -c exec HOOK" becomes it): the static busybox shell, whose builtin read has a
        # timeout (was timeout and a second sh: ~1.5 ms more CPU per start, and their start-up on the way from
        # "go" to the guest's init)
        busybox = shutil.which("busybox") or "/bin/busybox"
        self.hook = (f"{busybox} sh -c 'read -t {int(self.timeout)} word < {source} && "
                     f"[ \"$word\" = \"{self._word}\" ]' {shlex.quote(str(self.label))}")
        return self

    def release(self, go: bool) -> None:
        assert self._fds is not None
        os.write(self._fds[1], f"{self._word if go else 'no'}\n".encode())

    def __exit__(self, *exc) -> None:
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None


def _is_onestack_init(path: Path) -> bool:
    """The image's /sbin/init is the onestack guest init (any version): its first two lines say so. Not
    followed when a symbolic link (it would name a host path)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.read(fd, len(INIT_HEADER)) == INIT_HEADER
    finally:
        os.close(fd)


def _lxc(cmd: str, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([cmd, *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise ContainerError(f"{cmd} failed (rc {r.returncode}): {(r.stderr or r.stdout).strip()[-400:]}")
    return r


class Runtime:
    def __init__(self, state_dir: Path, prefix: str, stop_timeout: float = 10.0, disk_templates: bool = False
                 ) -> None:
        if not NAME_RE.match(prefix):
            raise ValueError(f"bad prefix {prefix!r}")
        self.path = Path(state_dir)
        self.prefix = prefix
        self.stop_timeout = stop_timeout
        self.gate_timeout = 600.0  # longest a starting guest waits for its network (a crash ends the wait)
        self.path.mkdir(parents=True, exist_ok=True)
        self.templates = DiskTemplates(self.path.parent / "disk-templates") if disk_templates else None
        self.spare = self.path.parent / "spare-guests"  # destroyed guests' directories, emptied, for new ones
        self.spare.mkdir(exist_ok=True)
        self._cpuinfo_written: set[int] = set()
        # the pool of pre-formatted disks the driver kept before the templates: nothing reads it any more
        shutil.rmtree(self.path.parent / "disk-pool", ignore_errors=True)

    # ------------------------------------------------------------------ layout

    def dir(self, name: str) -> Path:
        if not NAME_RE.match(name) or not name.startswith(self.prefix):
            raise ContainerError(f"bad guest name {name!r} (must start with {self.prefix!r})")
        return self.path / name

    def disk(self, name: str) -> RootDisk:
        return RootDisk(self.dir(name))

    def spec(self, name: str) -> ContainerSpec:
        try:
            return ContainerSpec.from_json((self.dir(name) / "spec.json").read_text())
        except FileNotFoundError:
            raise NotFound(f"no guest {name}") from None

    def console_log(self, name: str) -> Path:
        return self.dir(name) / "console.log"

    def names(self) -> list[str]:
        """Every guest with our prefix that has a directory (defined, running or half-created)."""
        return sorted(p.name for p in self.path.iterdir()
                      if p.is_dir() and p.name.startswith(self.prefix) and NAME_RE.match(p.name))

    # ------------------------------------------------------------------ lifecycle

    def define(self, spec: ContainerSpec, *, fresh_disk: bool = True) -> None:
        """Create (or redefine: rebuild/resize) the guest's files. Does not start it."""
        d = self.dir(spec.name)
        for nic in spec.nics:
            if not IFNAME_RE.match(nic.host_name) or not MAC_RE.match(nic.mac):
                raise ContainerError(f"bad NIC {nic.host_name!r} {nic.mac!r}")
            if nic.bridge is not None and not IFNAME_RE.match(nic.bridge):
                raise ContainerError(f"bad bridge name {nic.bridge!r}")
        d.mkdir(parents=True, exist_ok=True)
        disk = RootDisk(d)
        if spec.root_device is None and (fresh_disk or not disk.image.exists()):
            disk.create(spec.disk_bytes, self.templates)
        (d / "spec.json.tmp").write_text(spec.to_json())
        (d / "spec.json.tmp").replace(d / "spec.json")

    def _write_config(self, spec: ContainerSpec, rootfs: Path, gate: StartGate | None = None,
                      netns: links.Namespace | None = None) -> None:
        d = self.dir(spec.name)
        init = spec.init
        if init is None:
            init = ("/sbin/init",) if os.path.lexists(rootfs / "sbin/init") else BUILTIN_INIT
        lines = [f"lxc.include = {COMMON_CONF}"] if COMMON_CONF.exists() else []
        # what common.conf sets up that a guest does not use: 4 ttys (4 pty pairs, bind-mounted at /dev/lxc/tty*,
        # for lxc-console: the guest's console is its log), and a bind mount of the host's fuse connections
        # (our mount entries follow; its capability drops, device allow-list and seccomp profile stay)
        lines += ["lxc.tty.max = 0", "lxc.mount.entry ="]
        if not os.path.isdir(LXCFS_PROC):
            # Debian's lxcfs package adds hooks to every container: without its daemon running they only
            # cost a shell at each start and, post-stop, an unconditional 0.5 s sleep before the stop ends
            lines += ["lxc.hook.mount =", "lxc.hook.post-stop ="]
        lines += [
            f"lxc.uts.name = {spec.hostname}",
            f"lxc.rootfs.path = dir:{rootfs}",
            "lxc.cgroup.relative = 1",
            f"lxc.cgroup.dir.container = {spec.name}",
            f"lxc.cgroup.dir.monitor = {spec.name}.monitor",
            "lxc.mount.auto =",
            "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed",
            "lxc.autodev = 1",
            "lxc.apparmor.profile = unconfined",
            f"lxc.init.cmd = {' '.join(init)}",
            f"lxc.console.logfile = {d / 'console.log'}",
            # bounded: past CONSOLE_LOG_BYTES LXC renames the log to console.log.1 and starts a new one
            f"lxc.console.size = {CONSOLE_LOG_BYTES}",
            "lxc.console.rotate = 1",
            # a time namespace whose boot clock starts now: the guest's uptime (/proc/uptime) counts from
            # this start, as a VM's does (the config is written at every start)
            f"lxc.time.offset.boot = -{int(time.clock_gettime(time.CLOCK_BOOTTIME))}s",
            f"lxc.log.file = {d / 'lxc.log'}",
            "lxc.log.level = WARN",
            *cgroups.lxc_config(spec.limits, cgroups.hierarchy()),
        ]
        if init == BUILTIN_INIT or (init == ("/sbin/init",) and _is_onestack_init(rootfs / "sbin/init")):
            # /run and /tmp (tmpfs) mounted by LXC, not by two `mount` processes of the init on its way to DHCP;
            # the variable tells the init (which unsets it), an older one mounts its own over them
            lines += [f"lxc.mount.entry = tmpfs {d} tmpfs rw,nosuid,nodev,mode=1777,create=dir 0 0"
                      for d in ("run", "tmp")]
            lines.append("lxc.environment = ONESTACK_TMPFS=1")
        # over the proc:mixed mount above (LXC mounts lxc.mount.auto before the entries)
        lines.append(f"lxc.mount.entry = {self._cpuinfo(spec.limits.vcpus)} proc/cpuinfo none ro,bind 0 0")
        if spec.config_drive is not None:
            lines.append(f"lxc.mount.entry = {spec.config_drive} mnt/config none ro,bind,create=dir 0 0")
        if spec.root_device is not None and init == BUILTIN_INIT and spec.lowers:
            lines.append(f"lxc.mount.entry = {spec.lowers[0] / '.onestack'} .onestack none ro,bind,create=dir 0 0")
        lines += blockdev.lxc_config(spec.devices)
        if gate is not None:
            lines.append(f"lxc.hook.start-host = {gate.hook}")
        # the namespace onestack made, its NICs in it (see links); without NICs, LXC's own new one
        lines.append(f"lxc.namespace.share.net = {netns.path}" if netns is not None else "lxc.net.0.type = empty")
        (d / "config").write_text("\n".join(lines) + "\n")

    def _cpuinfo(self, vcpus: int) -> Path:
        """The /proc/cpuinfo file of guests with ``vcpus`` processors: one per flavor size, shared (read-only)
        by every guest of this runtime, written once per process (the host's CPUs as it starts)."""
        path = self.path.parent / f"cpuinfo-{vcpus}"  # (beside the guests: that directory holds only guests)
        if vcpus not in self._cpuinfo_written:
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(procview.cpuinfo(vcpus))
            tmp.replace(path)  # a guest starting meanwhile binds the old file or the new one, never half of one
            self._cpuinfo_written.add(vcpus)
        return path

    def start(self, name: str, network_ready: Callable[[], None] | None = None, *,
              spec: ContainerSpec | None = None) -> int:
        """Mount the root filesystem, make the guest's network namespace and NICs and start the guest; returns
        the host pid of its init.

        ``network_ready()`` is called once the host ends of the guest's veth pairs exist and before the
        guest's init runs, so the data plane can attach them first: the guest's first DHCP request is
        answered instead of retried a second later. ``spec``: the one just defined (saves reading it back)."""
        st = self.state(name)
        if st in (RUNNING, FROZEN):
            return self.pid(name)
        spec = spec or self.spec(name)
        self._cleanup_cgroups(name)  # leftovers of a crash would make lxc-start fail
        netns = self._make_nics(spec)
        try:
            rootfs = self.mount_rootfs(name, spec)
            pidfile = self.dir(name) / "pid"
            pidfile.unlink(missing_ok=True)
            cmd = ["lxc-start", "-P", str(self.path), "-n", name, "-d", "-p", str(pidfile)]
            if network_ready is None:
                self._write_config(spec, rootfs, netns=netns)
                _lxc(*cmd)
            else:
                # LXC sets the guest up (namespaces, cgroups, mounts) while the data plane wires its ports;
                # a start-host hook holds the init until the gate says "go" (or fails the start)
                with StartGate(self.dir(name), self.gate_timeout) as gate:
                    self._write_config(spec, rootfs, gate=gate, netns=netns)
                    starting = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                    try:
                        network_ready()
                    except BaseException:
                        gate.release(go=False)
                        _finish(starting, 60)
                        raise
                    gate.release(go=True)
                    out = _finish(starting, 60)
                if starting.returncode != 0:
                    raise ContainerError(f"lxc-start failed (rc {starting.returncode}): {out.strip()[-400:]}")
        finally:
            if netns is not None:  # (the guest's processes hold it now; a failed start's ends with this)
                netns.close()
        pid = self.pid(name)
        if not pid:
            raise ContainerError(f"guest {name} did not start; see {self.dir(name) / 'lxc.log'}")
        return pid

    def mount_rootfs(self, name: str, spec: ContainerSpec | None = None) -> Path:
        """The guest's root filesystem, mounted: the overlay, or the root volume."""
        spec = spec or self.spec(name)
        if spec.root_device is not None:
            return blockdev.mount_root(spec.root_device, self.dir(name) / "rootfs")
        return RootDisk(self.dir(name)).mount(list(spec.lowers))

    def plug(self, name: str, device: BlockDevice) -> None:
        """Hot-plug a volume into the running guest (the caller records it in the spec)."""
        pid = self.pid(name)
        if not pid:
            raise ContainerError(f"guest {name} is not running")
        blockdev.plug(name, self.path, pid, device)

    def unplug(self, name: str, device: BlockDevice) -> None:
        state = self.state(name)
        if state == FROZEN:
            raise ContainerError(f"guest {name} is paused: a volume can be unplugged once it runs again")
        if state != RUNNING:
            return  # stopped: the next start's configuration no longer has it
        blockdev.unplug(name, self.path, self.pid(name), device)

    @staticmethod
    def peer_name(nic: Nic) -> str:
        """The guest end of a stopped guest's hot-plugged pair while it waits on the host (see _host_pair)."""
        return ("g" + nic.host_name)[:15] if len(nic.host_name) < 15 else "g" + nic.host_name[1:]

    def _make_nics(self, spec: ContainerSpec) -> links.Namespace | None:
        """The guest's network namespace with its NICs in it (None without NICs: LXC makes an empty one).
        Made at every start: a stopped guest's namespace ended, and its pairs with it."""
        if not spec.nics:
            return None
        self._remove_nics(spec.nics)  # a stopped guest's hot-plugged pair, or one whose namespace is ending
        netns = links.Namespace.new()
        try:
            for i, nic in enumerate(spec.nics):
                netns.add_nic(nic.host_name, f"eth{i}", nic.mac, mtu=nic.mtu, bridge=nic.bridge)
        except BaseException:
            netns.close()
            self._remove_nics(spec.nics)
            raise
        return netns

    def _remove_nics(self, nics: tuple[Nic, ...]) -> None:
        for nic in nics:
            for link in (nic.host_name, self.peer_name(nic)):
                if os.path.exists(f"/sys/class/net/{link}"):
                    with contextlib.suppress(ContainerError):  # (gone meanwhile with its namespace)
                        links.delete_link(link)

    def _host_pair(self, nic: Nic) -> None:
        """A stopped guest's hot-plugged NIC: its pair on the host (the peer is made in the guest's namespace at
        its next start), so the data plane attaches the port now, as for a running guest."""
        if not os.path.exists(f"/sys/class/net/{nic.host_name}"):
            self._remove_nics((nic,))
            links.add_veth(nic.host_name, self.peer_name(nic), mtu=nic.mtu, bridge=nic.bridge)

    def plug_nic(self, name: str, nic: Nic) -> str | None:
        """Hot-plug a NIC: its veth pair, the guest end made in the guest's network namespace with the port's
        MAC as the first free ``eth<i>`` (i >= the NICs it has; its name is returned).  A paused (frozen)
        guest gets it too: making a link in a namespace needs nothing from the guest's processes.  A stopped
        guest gets it at start (the caller records it in the spec); None then."""
        spec = self.spec(name)
        if self.state(name) not in (RUNNING, FROZEN):
            self._host_pair(nic)
            return None
        pid = self.pid(name)
        taken = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link"], capture_output=True,
                               text=True, timeout=30).stdout
        names = {line.split(":")[1].strip().split("@")[0] for line in taken.splitlines() if line.count(":") >= 2}
        index = len(spec.nics)
        while f"eth{index}" in names:
            index += 1
        ifname = f"eth{index}"
        self._remove_nics((nic,))
        with links.Namespace.of_process(pid) as netns:
            netns.add_nic(nic.host_name, ifname, nic.mac, mtu=nic.mtu, bridge=nic.bridge)
        return ifname

    def unplug_nic(self, name: str, nic: Nic) -> None:
        """Remove a NIC (running or not): deleting the host end takes the guest end with it."""
        self._remove_nics((nic,))

    def stop(self, name: str, *, timeout: float | None = None, force: bool = False) -> None:
        """Ask init to stop (SIGPWR, sent again every ``HALT_RETRY`` seconds: an init still starting may
        not trap it yet), wait up to ``timeout``, then kill; unmounts the root filesystem."""
        if not self.dir(name).exists():
            raise NotFound(f"no guest {name}")
        st = self.state(name)
        if st == FROZEN:
            self.unpause(name)
        if st != STOPPED:
            t = self.stop_timeout if timeout is None else timeout
            deadline = time.monotonic() + t
            while not force and (left := deadline - time.monotonic()) > 0 and self.state(name) != STOPPED:
                wait = max(1, int(min(left, HALT_RETRY) + 0.5))
                _lxc("lxc-stop", "-P", str(self.path), "-n", name, "-t", str(wait), timeout=wait + 30, check=False)
            if self.state(name) != STOPPED:
                _lxc("lxc-stop", "-P", str(self.path), "-n", name, "-k", check=False)
        self._cleanup_cgroups(name)
        RootDisk(self.dir(name)).unmount()

    def reboot(self, name: str, *, hard: bool = False) -> int:
        self.stop(name, force=hard)
        return self.start(name)

    def pause(self, name: str) -> None:
        self._require_running(name)
        _lxc("lxc-freeze", "-P", str(self.path), "-n", name)

    def unpause(self, name: str) -> None:
        _lxc("lxc-unfreeze", "-P", str(self.path), "-n", name)

    # suspend = freeze with the state recorded, so it survives an agent restart (no CRIU here)
    def suspend(self, name: str) -> None:
        self.pause(name)
        (self.dir(name) / "suspended").touch()

    def resume(self, name: str) -> None:
        self.unpause(name)
        with contextlib.suppress(FileNotFoundError):
            (self.dir(name) / "suspended").unlink()

    def is_suspended(self, name: str) -> bool:
        return (self.dir(name) / "suspended").exists()

    def destroy(self, name: str, *, scrub: Callable[[Path], bool] | None = None) -> None:
        """Remove everything: processes, cgroups, mounts, loop device, veths, files. Idempotent.
        ``scrub(guest_dir)``: empties what the caller keeps in the guest's directory (True: done); then the
        directory, emptied of the guest, is kept for a new guest (``take``) instead of removed."""
        d = self.dir(name)
        if not d.exists():
            return
        nics: tuple[Nic, ...] = ()
        with contextlib.suppress(ContainerError, ValueError, KeyError, TypeError):
            nics = self.spec(name).nics
        if (d / "config").exists():
            with contextlib.suppress(ContainerError):
                if self.state(name) != STOPPED:
                    _lxc("lxc-unfreeze", "-P", str(self.path), "-n", name, check=False)
                    _lxc("lxc-stop", "-P", str(self.path), "-n", name, "-k", check=False)
        self._cleanup_cgroups(name)
        RootDisk(d).unmount()
        self._remove_nics(nics)
        if scrub is None or not self._recycle(d, scrub):
            shutil.rmtree(d)

    def _recycle(self, d: Path, scrub: Callable[[Path], bool]) -> bool:
        """Keep a destroyed guest's directory for a new guest: its mount points and files stay as empty inodes
        (the disk and the spec as the next ones' temporary files: a guest without a spec.json is none), the
        rest goes; False (the caller removes it) when anything is unexpected, or SPARE_LIMIT are kept."""
        try:
            if mounts_below(d) or len(os.listdir(self.spare)) >= SPARE_LIMIT:
                return False
            for sub in RECYCLED_DIRS:
                if (d / sub).is_symlink() or not (d / sub).is_dir() or sub != "config-drive" and os.listdir(d / sub):
                    return False
            if not scrub(d):
                return False
            for entry in os.scandir(d):
                if entry.is_symlink():
                    os.unlink(entry.path)
                elif entry.is_dir():
                    if entry.name not in RECYCLED_DIRS:
                        shutil.rmtree(entry.path)
                elif entry.name in RECYCLED_FILES and entry.is_file():
                    os.truncate(entry.path, 0)
                else:
                    os.unlink(entry.path)
            for name, tmp in (("disk.img", ".disk.img.tmp"), ("spec.json", "spec.json.tmp")):
                with contextlib.suppress(FileNotFoundError):
                    os.rename(d / name, d / tmp)  # (the next disk and spec are written under these names)
            os.rename(d, self.spare / uuid.uuid4().hex)
        except OSError:
            return False
        return True

    def take(self, name: str) -> bool:
        """Give the new guest ``name`` a kept directory (see ``destroy``); False: there is none."""
        d = self.dir(name)
        try:
            spares = os.listdir(self.spare)
        except FileNotFoundError:
            return False
        for spare in spares:
            try:
                os.rename(self.spare / spare, d)  # (another thread may have taken it: the next one)
            except FileNotFoundError:
                continue
            except OSError:
                return False
            return True
        return False

    def rebuild(self, name: str, lowers: tuple[Path, ...], init: tuple[str, ...] | None = None) -> int:
        """New image, same identity: a fresh upper layer over new lowers, then boot."""
        spec = self.spec(name)
        self.stop(name)
        new = ContainerSpec(**{**spec.__dict__, "lowers": lowers, "init": init})
        self.define(new, fresh_disk=True)
        return self.start(name)

    def resize(self, name: str, limits: Limits, disk_bytes: int) -> None:
        """New limits and a larger root disk. A root disk of its own is copied first (offline: the guest
        stops and restarts), and the copy kept until ``confirm_resize`` or ``revert_resize``, as Nova keeps
        the source disk; a root volume is the block storage service's (limits applied live)."""
        spec = self.spec(name)
        new = ContainerSpec(**{**spec.__dict__, "limits": limits, "disk_bytes": max(disk_bytes, spec.disk_bytes)})
        was = self.state(name)
        disk = RootDisk(self.dir(name))
        if spec.root_device is None:
            self.stop(name)
            disk.keep()
            if new.disk_bytes > disk.size():
                disk.resize(new.disk_bytes, list(spec.lowers))
                disk.unmount()
            self.define(new, fresh_disk=False)
            if was in (RUNNING, FROZEN):
                self.start(name)
            return
        self.define(new, fresh_disk=False)
        if was in (RUNNING, FROZEN):
            cgroups.apply_limits(self.pid(name), limits)

    def revert_resize(self, name: str, limits: Limits, disk_bytes: int) -> None:
        """Back to the limits and the root disk (size and content) kept by ``resize``; without a kept disk
        (a root volume) only the limits go back."""
        spec = self.spec(name)
        was = self.state(name)
        disk = RootDisk(self.dir(name))
        if spec.root_device is None and disk.kept.exists():
            self.stop(name)
            disk.restore()
            self.define(ContainerSpec(**{**spec.__dict__, "limits": limits, "disk_bytes": disk_bytes}),
                        fresh_disk=False)
            if was in (RUNNING, FROZEN):
                self.start(name)
            return
        self.define(ContainerSpec(**{**spec.__dict__, "limits": limits}), fresh_disk=False)
        if was in (RUNNING, FROZEN):
            cgroups.apply_limits(self.pid(name), limits)

    def confirm_resize(self, name: str) -> None:
        """The resize is final: the disk kept for a revert goes."""
        RootDisk(self.dir(name)).drop_kept()

    # ------------------------------------------------------------------ observation

    def _live_pid(self, name: str) -> int | None:
        """The guest's init pid without asking LXC: lxc-start records its monitor's pid, whose child is
        the init (0: not running). None when there is no record (a guest started before pid files)."""
        d = self.dir(name)
        try:
            monitor = int((d / "pid").read_text().strip() or 0)
        except FileNotFoundError:  # LXC removes it when the guest stops; a guest never started has no config
            try:                   # (or the empty one of a kept directory, see destroy): nothing to ask LXC
                return None if (d / "config").stat().st_size else 0
            except FileNotFoundError:
                return 0
        except (OSError, ValueError):
            return None
        try:  # the pid may have been reused by an unrelated process: it must be this guest's monitor
            cmdline = Path(f"/proc/{monitor}/cmdline").read_bytes() if monitor else b""
            if not cmdline.startswith(b"[lxc monitor]") or not cmdline.rstrip(b"\0 ").endswith(f" {name}".encode()):
                return 0
            children = Path(f"/proc/{monitor}/task/{monitor}/children").read_text().split()
        except OSError:
            return 0
        return int(children[0]) if children else 0

    def state(self, name: str) -> str:
        return self.observe(name)[0]

    def observe(self, name: str) -> tuple[str, int]:
        """The guest's state and the host pid of its init (0 unless RUNNING or FROZEN), found together."""
        d = self.dir(name)
        if not (d / "config").exists():
            return (ABSENT if not d.exists() else STOPPED), 0
        pid = self._live_pid(name)
        if pid is not None:
            if not pid:
                return STOPPED, 0
            return (FROZEN if cgroups.freezer_state(pid) in ("FROZEN", "FREEZING") else RUNNING), pid
        r = _lxc("lxc-info", "-P", str(self.path), "-n", name, "-s", "-H", check=False)
        out = r.stdout.strip()
        if out in (RUNNING, FROZEN, "FREEZING", "THAWED"):
            state = FROZEN if out in (FROZEN, "FREEZING") else RUNNING
        elif out in ("STARTING",):
            state = RUNNING
        else:
            return STOPPED, 0
        return state, self.pid(name)

    def pid(self, name: str) -> int:
        pid = self._live_pid(name)
        if pid is not None:
            return pid
        r = _lxc("lxc-info", "-P", str(self.path), "-n", name, "-p", "-H", check=False)
        return int(r.stdout.strip()) if r.stdout.strip().isdigit() else 0

    def _require_running(self, name: str) -> None:
        if self.state(name) != RUNNING:
            raise ContainerError(f"guest {name} is not running")

    def console_tail(self, name: str, lines: int | None = None) -> str:
        """The end of the live console log (with the rotated part before it when the log is short)."""
        log = self.console_log(name)
        data = b""
        for path in (log, log.with_name(log.name + ".1")):
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()[-(CONSOLE_LOG_BYTES - len(data)):] + data
            if len(data) >= CONSOLE_LOG_BYTES // 2:
                break
        text = data.decode("utf-8", "replace").replace("\r\n", "\n")
        if lines is not None:
            text = "\n".join(text.splitlines()[-lines:]) + ("\n" if text else "")
        return text

    def wait_console(self, name: str, marker: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.console_tail(name):
                return True
            time.sleep(0.01)
        return False

    def attach(self, name: str, argv: list[str], *, timeout: float = 30, input: str | None = None
               ) -> subprocess.CompletedProcess:
        """Run a command inside the guest (its namespaces *and* cgroups), like ``lxc-attach``."""
        self._require_running(name)
        return subprocess.run(["lxc-attach", "-P", str(self.path), "-n", name, "--clear-env", "--", *argv],
                              capture_output=True, text=True, timeout=timeout, input=input)

    # ------------------------------------------------------------------ crash recovery

    def adopt(self, known: set[str]) -> tuple[list[str], list[str]]:
        """After a restart: keep the guests we know (running or not), destroy prefixed ones we don't.
        Returns (kept, removed)."""
        kept, removed = [], []
        for name in self.names():
            if name in known:
                kept.append(name)
            else:
                self.destroy(name)
                removed.append(name)
        for leftover in cgroups.find_prefixed(self.prefix):
            guest = leftover.name.removesuffix(".monitor")
            if guest not in known:
                cgroups.remove([leftover])
        return kept, removed

    def _cleanup_cgroups(self, name: str) -> None:
        left = cgroups.remove(cgroups.guest_dirs(name))
        if left:
            raise ContainerError(f"cgroups of {name} could not be removed: {left}")
