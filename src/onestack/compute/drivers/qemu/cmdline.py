"""The QEMU command line of one guest, from a ``VmSpec`` (the guest's persisted description)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Nic:
    tap: str
    mac: str
    port_id: str
    mtu: int = 0
    bridge: str = ""


@dataclass(frozen=True)
class Disk:
    volume_id: str
    path: str
    format: str = "raw"
    read_only: bool = False


@dataclass(frozen=True)
class VmSpec:
    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    disk: str  # the guest's qcow2 overlay (or its boot volume)
    serial_log: str
    qmp: str
    pidfile: str
    accel: str = "tcg"
    disk_format: str = "qcow2"
    kernel: str = ""  # direct kernel boot when set, else the BIOS boots the disk
    initrd: str = ""
    append: str = ""
    config_drive: str = ""
    nics: tuple[Nic, ...] = ()
    volumes: tuple[Disk, ...] = ()
    extra: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> VmSpec:
        d = json.loads(text)
        d["nics"] = tuple(Nic(**n) for n in d.get("nics", ()))
        d["volumes"] = tuple(Disk(**v) for v in d.get("volumes", ()))
        d["extra"] = tuple(d.get("extra", ()))
        return cls(**d)


def node_name(volume_id: str) -> str:
    """QEMU block node names are at most 31 characters."""
    return "v" + volume_id.replace("-", "")[:30]


def device_id(volume_id: str) -> str:
    return f"volume-{volume_id}"


def nic_id(port_id: str) -> str:
    return f"nic-{port_id}"


def netdev_id(port_id: str) -> str:
    return f"net-{port_id}"


def _drive(value: str) -> str:
    return value.replace(",", ",,")  # QEMU's option syntax escapes commas by doubling


def argv(spec: VmSpec, binary: str = "qemu-system-x86_64") -> list[str]:
    cpu = ["-cpu", "host"] if spec.accel == "kvm" else []
    args = [binary, "-name", f"guest={spec.name},debug-threads=off", "-uuid", spec.uuid,
            "-machine", "pc", "-accel", spec.accel, *cpu, "-m", str(spec.memory_mb), "-smp", str(spec.vcpus),
            "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", f"file,id=console,path={_drive(spec.serial_log)},append=on", "-serial", "chardev:console",
            "-qmp", f"unix:{_drive(spec.qmp)},server=on,wait=off",
            "-pidfile", spec.pidfile, "-daemonize"]
    if spec.kernel:
        args += ["-kernel", spec.kernel]
        if spec.initrd:
            args += ["-initrd", spec.initrd]
        if spec.append:
            args += ["-append", spec.append]
    boot = "" if spec.kernel else ",bootindex=0"  # -kernel claims boot index 0 itself
    args += ["-drive", f"file={_drive(spec.disk)},if=none,id=root,format={spec.disk_format},discard=unmap",
             "-device", f"virtio-blk-pci,drive=root,id=root-disk{boot}"]
    if spec.config_drive:
        args += ["-drive", f"file={_drive(spec.config_drive)},if=none,id=config,format=raw,readonly=on",
                 "-device", "virtio-blk-pci,drive=config,id=config-drive,serial=config-2"]
    for nic in spec.nics:
        mtu = f",host_mtu={nic.mtu}" if nic.mtu else ""
        net = netdev_id(nic.port_id)
        args += ["-netdev", f"tap,id={net},ifname={nic.tap},script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev={net},mac={nic.mac},id={nic_id(nic.port_id)}{mtu}"]
    for vol in spec.volumes:
        ro = ",readonly=on" if vol.read_only else ""
        args += ["-drive", f"file={_drive(vol.path)},if=none,id={node_name(vol.volume_id)},format={vol.format}{ro}",
                 "-device", f"virtio-blk-pci,drive={node_name(vol.volume_id)},id={device_id(vol.volume_id)},"
                            f"serial={vol.volume_id[:20]}"]
    return args + list(spec.extra)
