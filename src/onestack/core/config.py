"""Typed settings, built once at start-up and passed down.

Sources, later wins: defaults < TOML file < ``ONESTACK_<SECTION>_<KEY>`` environment variables
< explicit overrides (command-line flags).  Unknown keys are errors: a typo must not be silently
ignored by an operator's config.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ServerSettings:
    listen: str = "127.0.0.1:8080"
    # The URL clients reach us at; empty means "http://<listen>".
    public_url: str = ""
    region: str = "RegionOne"
    log_requests: bool = True
    policy_file: str = ""  # a policy.yaml overriding rules by their upstream names, for every service

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.listen}").rstrip("/")


@dataclass(frozen=True)
class DatabaseSettings:
    # Empty means SQLite (WAL) in the data dir.
    url: str = ""
    echo: bool = False


@dataclass(frozen=True)
class BusSettings:
    # Empty: the in-process bus (all-in-one).  "amqp://user:pw@host:5672/vhost" for RabbitMQ.
    url: str = ""


@dataclass(frozen=True)
class IdentitySettings:
    token_expiration: int = 3600  # seconds, as keystone [token] expiration
    allow_expired_window: int = 172800  # keystone [token] allow_expired_window
    bcrypt_rounds: int = 12  # keystone [identity] password_hash_rounds
    max_active_keys: int = 3  # keystone [fernet_tokens] max_active_keys
    lockout_failure_attempts: int = 0  # keystone [security_compliance]; 0 = off, as upstream
    lockout_duration: int = 1800
    password_expires_days: int = 0  # 0 = passwords never expire
    admin_password: str = ""  # empty: generated on first bootstrap and kept in the data dir
    cache_size: int = 10000  # validated tokens kept in memory


@dataclass(frozen=True)
class ComputeSettings:
    # The guest driver of compute agents: one of onestack.compute.agent.DRIVERS, or "auto": "container"
    # when running as root with LXC and busybox installed, else "fake".
    driver: str = "auto"
    host: str = ""  # this agent's host name; empty means the machine's hostname
    fake_hosts: int = 1  # hosts one agent simulates with the fake driver
    default_availability_zone: str = "nova"  # nova [DEFAULT] default_availability_zone
    vcpus: int = 0  # reported VCPU inventory per host; 0 = the machine's (fake: 64)
    memory_mb: int = 0  # reported MEMORY_MB inventory per host; 0 = the machine's (fake: 262144)
    disk_gb: int = 0  # reported DISK_GB inventory per host; 0 = the machine's (fake: 2048)
    cpu_allocation_ratio: str = "16.0"  # nova [DEFAULT] cpu_allocation_ratio
    ram_allocation_ratio: str = "1.5"
    disk_allocation_ratio: str = "1.0"
    state_dir: str = ""  # container driver: guests and image cache; empty: <data dir>/compute
    prefix: str = ""  # container driver: guest (LXC, cgroup) name prefix; empty: derived from the data dir
    # nova [image_cache] remove_unused_original_minimum_age_seconds: unused cached images older are pruned
    remove_unused_original_minimum_age_seconds: int = 86400
    # nova (pre-[image_cache]) image_cache_manager_interval: seconds between the agent's prunes of its hosts'
    # image caches (the resync that comes due runs it); -1: never (only ``onestack admin image-cache prune``)
    image_cache_manager_interval: int = 2400
    bootstrap_image: bool = True  # the all-in-one bootstrap registers the public test image "busybox"
    qemu_accel: str = "auto"  # qemu driver: "auto" (KVM only if a boot probe beats TCG, cached per host), tcg, kvm
    vif_plugging_timeout: int = 300  # nova: seconds a build (and an os-interface attach) waits for ports to be ACTIVE
    vif_plugging_is_fatal: bool = True  # nova: a build whose ports never became ACTIVE fails
    shutdown_timeout: int = 60  # nova: seconds a stop waits for a clean guest shutdown before a hard stop
    # nova [DEFAULT] max_concurrent_builds: guests a host agent builds at once (its worker threads; a build
    # mostly waits for its ports and the driver's tools, so fewer workers queue boots behind each other)
    max_concurrent_builds: int = 10


@dataclass(frozen=True)
class NetworkSettings:
    # "auto": the linux data plane when running as root with ip/dnsmasq/nft present, else "fake".
    driver: str = "auto"
    host: str = ""  # this agent's host name (binding:host_id); empty: the machine's host name
    prefix: str = ""  # kernel object prefix (<= 4 chars); empty: derived from the data dir
    host_netns: str = ""  # run the "host" side in this namespace instead of the root one (tests)
    tunnel_ip: str = ""  # VXLAN underlay address of this host; empty: no tunnels
    tunnel_dev: str = ""
    dhcp_agent: bool = True  # this agent serves DHCP
    l3_agent: bool = True  # this agent hosts routers
    vxlan_ranges: str = "1:1000"  # vni_ranges, as ml2_type_vxlan
    flat_networks: str = "*"  # ml2_type_flat flat_networks
    bridge_mappings: str = ""  # physnet:host_interface,... enslaved to flat networks' bridges
    external_gateway: bool = True  # put external subnets' gateway on the host bridge, NAT out
    global_mtu: int = 1500
    metadata_url: str = ""  # where the metadata proxy forwards; empty: <base_url>/metadata
    metadata_secret: str = ""  # metadata_proxy_shared_secret; empty: generated in the data dir
    bootstrap: bool = True  # create public/private/router1 on first start
    public_cidr: str = "172.24.4.0/24"
    private_cidr: str = "10.0.0.0/26"


@dataclass(frozen=True)
class ImageSettings:
    image_size_cap: int = 1099511627776  # glance [DEFAULT] image_size_cap (bytes)
    enabled_import_methods: str = "glance-direct"  # comma-separated: glance-direct, web-download (off by default)
    # web-download URL filters: glance [import_filtering_opts] (comma-separated; an allow list wins over its deny list)
    web_download_allowed_schemes: str = "http,https"
    web_download_disallowed_schemes: str = ""
    web_download_allowed_hosts: str = ""
    web_download_disallowed_hosts: str = ""
    web_download_allowed_ports: str = "80,443"
    web_download_disallowed_ports: str = ""
    web_download_timeout: int = 60  # seconds without progress before a download fails
    hashing_algorithm: str = "sha512"  # glance [DEFAULT] hashing_algorithm (os_hash_algo)
    limit_param_default: int = 25  # glance [DEFAULT] limit_param_default
    api_limit_max: int = 1000  # glance [DEFAULT] api_limit_max
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_member_quota: int = 128


@dataclass(frozen=True)
class VolumeSettings:
    # "file" (sparse files + loop devices, needs root for attach), "fake" (in memory); empty: file as root,
    # else fake
    driver: str = ""
    storage_availability_zone: str = "nova"  # cinder [DEFAULT] storage_availability_zone
    volumes_dir: str = ""  # empty: <data_dir>/volumes
    backup_dir: str = ""  # cinder [DEFAULT] backup_posix_path; empty: <data_dir>/backups
    host: str = ""  # cinder [DEFAULT] host; empty: this machine's hostname


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./data"
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    bus: BusSettings = field(default_factory=BusSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    image: ImageSettings = field(default_factory=ImageSettings)
    volume: VolumeSettings = field(default_factory=VolumeSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_path / 'onestack.db'}"


_SECTIONS = {f.name: f for f in dataclasses.fields(Settings) if dataclasses.is_dataclass(f.default_factory)}


def _coerce(value: Any, typ: type, where: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if typ is int:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    return str(value)


def _section(cls: type, values: dict[str, Any], where: str):
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{where}]: {', '.join(sorted(unknown))}")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()})


def load(path: str | os.PathLike | None = None, env: dict[str, str] | None = None, **overrides) -> Settings:
    """Build Settings from a TOML file, the environment and overrides like ``server={"listen": ...}``."""
    env = os.environ if env is None else env
    raw: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    top: dict[str, Any] = {}
    path = path or env.get("ONESTACK_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for key, value in data.items():
            if key in _SECTIONS:
                raw[key].update(value)
            elif key == "data_dir":
                top[key] = value
            else:
                raise ConfigError(f"{path}: unknown section or key {key!r}")
    for key, value in env.items():
        if not key.startswith("ONESTACK_") or key == "ONESTACK_CONFIG":
            continue
        rest = key[len("ONESTACK_"):].lower()
        if rest == "data_dir":
            top["data_dir"] = value
            continue
        for name in _SECTIONS:
            if rest.startswith(name + "_"):
                raw[name][rest[len(name) + 1:]] = value
                break
    for key, value in overrides.items():
        if key in _SECTIONS:
            raw[key].update({k: v for k, v in value.items() if v is not None})
        elif value is not None:
            top[key] = value
    sections = {
        name: _section(f.default_factory, raw[name], name)  # type: ignore[arg-type]
        for name, f in _SECTIONS.items()
    }
    return Settings(**top, **sections)
