"""The operator CLI: ``onestack up | api | db upgrade | admin ...``."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import click
import yaml

from onestack.core import config as config_mod

log = logging.getLogger("onestack")


def _settings(data_dir: str | None, listen: str | None, config_file: str | None):
    try:
        return config_mod.load(config_file, data_dir=data_dir, server={"listen": listen})
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class _Formatter(logging.Formatter):
    """The usual format; the date text is reused within a second (a line per request adds up)."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, time.strftime("%Y-%m-%d %H:%M:%S", self.converter(record.created)))
        return f"{self._second[1]},{int(record.msecs):03d}"


class _BatchedHandler(logging.StreamHandler):
    """stderr through a 64 KiB buffer written every 0.1 s (at once for warnings and errors): one
    write(2) per batch of request lines instead of one per request."""

    def __init__(self) -> None:
        super().__init__(open(sys.stderr.fileno(), "w", buffering=1 << 16, encoding=sys.stderr.encoding,  # noqa: SIM115
                              errors="backslashreplace", closefd=False))
        threading.Thread(target=self._flush_often, name="log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except Exception:
            self.handleError(record)

    def _flush_often(self) -> None:
        while True:
            time.sleep(0.1)
            self.flush()


def _logging(verbose: bool = False) -> None:
    sys.stderr.flush()
    handler = _BatchedHandler()
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Our format shows neither the caller's file/line nor thread/process: don't collect them per record
    # (the logging HOWTO's "Optimization" knobs).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def _migrate(engine) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from onestack import migrations

    before, after = migrations.upgrade(engine)
    if before != after:
        log.info("database migrated: %s -> %s", ",".join(before) or "empty", ",".join(after))
    return before, after


def write_clouds_yaml(path: Path, base_url: str, region: str, passwords: dict[str, str]) -> None:
    def cloud(user: str, project: str) -> dict:
        return {
            "auth": {
                "auth_url": f"{base_url}/identity",
                "username": user,
                "password": passwords[user],
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": region,
            "interface": "public",
            "identity_api_version": 3,
        }

    doc = {"clouds": {"onestack": cloud("admin", "admin"), "onestack-demo": cloud("demo", "demo")}}
    system = cloud("admin", "admin")
    del system["auth"]["project_name"], system["auth"]["project_domain_name"]
    system["auth"]["system_scope"] = "all"
    doc["clouds"]["onestack-system"] = system
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


@click.group()
def main() -> None:
    """onestack: an open cloud, all-in-one or scaled out."""


@main.command()
@click.option("--data-dir", help="Where the database, keys and clouds.yaml live (default ./data).")
@click.option("--listen", help="HOST:PORT to serve the APIs on (default 127.0.0.1:8080).")
@click.option("--config", "config_file", help="A TOML settings file.")
@click.option("--verbose", is_flag=True)
def up(data_dir: str | None, listen: str | None, config_file: str | None, verbose: bool) -> None:
    """Run the whole cloud in this process, in the foreground."""
    started = time.perf_counter()
    _logging(verbose)
    settings = _settings(data_dir, listen, config_file)
    from onestack.app import add_services, build_identity

    cloud = build_identity(settings)
    before, after = _migrate(cloud.engine)
    # An existing cloud serves identity at once and imports, builds and bootstraps the other services
    # (most of the start-up time) in the background; requests for them wait until they are mounted.
    staged = bool(before) and before == after and (settings.data_path / "passwords.json").exists()
    if staged:
        passwords = cloud.identity.bootstrap([])  # the catalog is refreshed with the other services
    else:
        cloud.asgi.add_mounts(add_services(cloud), complete=True)
        passwords = cloud.bootstrap()
        cloud.start_agents()
        _freeze_start_up()
    base = settings.server.base_url
    clouds_yaml = settings.data_path / "clouds.yaml"
    write_clouds_yaml(clouds_yaml, base, settings.server.region, passwords)
    for handler in logging.getLogger().handlers:  # log lines so far come before the banner
        handler.flush()
    click.echo(
        f"""
onestack is starting ({(time.perf_counter() - started) * 1000:.0f} ms to ready)
  API:            {base}  (identity at {base}/identity/v3)
  admin password: {passwords['admin']}
  clouds.yaml:    {clouds_yaml}
  try:            OS_CLIENT_CONFIG_FILE={clouds_yaml} openstack --os-cloud onestack token issue
""",
        err=True,
    )
    server = _server(cloud.asgi, settings)
    stopped = threading.Event()
    finishing = None
    if staged:
        finishing = threading.Thread(target=_start_services, args=(cloud, server, add_services, stopped),
                                     name="start-up", daemon=True)
        finishing.start()
    try:
        server.run()
    finally:
        stopped.set()
        if finishing is not None:
            finishing.join(60)
        cloud.close()


def _start_services(cloud, server, add_services, stopped: threading.Event) -> None:
    """The second half of a staged start: every service but identity, then their agents."""
    while not server.started:  # let the server answer first
        if stopped.wait(0.01):
            return  # it never served (e.g. the port is taken)
    started = time.perf_counter()
    try:
        mounts = add_services(cloud)
        cloud.bootstrap()
        cloud.start_agents()
        cloud.asgi.add_mounts(mounts, complete=True)
    except Exception:
        log.exception("start-up failed")
        server.should_exit = True
        return
    _freeze_start_up()
    log.info("every service is up (%.0f ms after identity)", (time.perf_counter() - started) * 1000)


@main.command()
@click.option("--data-dir")
@click.option("--listen")
@click.option("--config", "config_file")
def api(data_dir: str | None, listen: str | None, config_file: str | None) -> None:
    """Serve the APIs only (scaled-out deployments; run `db upgrade` and `admin bootstrap` first)."""
    _logging()
    settings = _settings(data_dir, listen, config_file)
    from onestack.app import build

    asgi = build(settings).asgi
    _freeze_start_up()
    _serve(asgi, settings)


def _freeze_start_up() -> None:
    """Objects made at start-up (modules, mappers, cached statements, routes) live as long as the
    process: taken out of the garbage collector's generations, a full collection no longer walks
    them in the middle of a request (one took ~100 ms CPU, the whole p99 budget of a scheduling decision)."""
    import gc

    gc.collect()
    gc.freeze()


def _serve(asgi, settings) -> None:
    _server(asgi, settings).run()


def _server(asgi, settings):
    import uvicorn

    from onestack.core.serving import http_protocol

    config = uvicorn.Config(
        asgi,
        http=http_protocol(),  # one write per response
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,  # onestack logs one line per request itself
        lifespan="off",
        # longer than clients' polling intervals (openstackclient's --wait polls every 5 s, uvicorn's
        # default): otherwise the server closes an idle connection just as the next poll reuses it
        timeout_keep_alive=75,
    )
    return uvicorn.Server(config)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.option("--data-dir")
@click.option("--config", "config_file")
def db_upgrade(data_dir: str | None, config_file: str | None) -> None:
    """Migrate the database to the newest schema."""
    _logging()
    from onestack.core.db import make_engine

    settings = _settings(data_dir, None, config_file)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    _migrate(make_engine(settings.database_url))
    click.echo("database is up to date")


@main.group()
def admin() -> None:
    """Administrative tasks."""


@admin.command("bootstrap")
@click.option("--data-dir")
@click.option("--listen", help="HOST:PORT the API serves on: the catalog and clouds.yaml point there.")
@click.option("--config", "config_file")
def admin_bootstrap(data_dir: str | None, listen: str | None, config_file: str | None) -> None:
    """Create (idempotently) the default domain, roles, admin/demo users and the catalog."""
    _logging()
    settings = _settings(data_dir, listen, config_file)
    from onestack.app import build

    cloud = build(settings)
    _migrate(cloud.engine)
    passwords = cloud.bootstrap()
    write_clouds_yaml(settings.data_path / "clouds.yaml", settings.server.base_url, settings.server.region,
                      passwords)
    click.echo(f"bootstrapped; clouds.yaml at {settings.data_path / 'clouds.yaml'}")


@admin.command("fernet-rotate")
@click.option("--data-dir")
@click.option("--config", "config_file")
def admin_fernet_rotate(data_dir: str | None, config_file: str | None) -> None:
    """Rotate the Fernet keys: the staged key becomes primary, a new key is staged."""
    settings = _settings(data_dir, None, config_file)
    from onestack.identity.backends.fernet import KeyRepository

    repo = KeyRepository(settings.data_path / "fernet-keys", settings.identity.max_active_keys)
    primary = repo.rotate()
    click.echo(f"rotated: key {primary} is now primary")


@admin.group("image-cache")
def admin_image_cache() -> None:
    """This host's image cache (container or qemu driver): images downloaded once, shared by guests."""


def _image_caches(data_dir: str | None, config_file: str | None) -> list[tuple[str, object]]:
    """(driver, cache) for the configured driver's cache and any other driver's cache the data dir holds:
    a cloud started with ONESTACK_COMPUTE_DRIVER=qemu has its cache listed without the variable too."""
    from onestack.compute.agent import container_prefix, container_state_dir
    from onestack.compute.drivers.container.driver import ContainerGuestDriver
    from onestack.compute.drivers.container.imagecache import ImageCache

    settings = _settings(data_dir, None, config_file)
    age = float(settings.compute.remove_unused_original_minimum_age_seconds)
    state = Path(container_state_dir(settings))
    caches: list[tuple[str, object]] = []
    if settings.compute.driver != "qemu" or (state / "images").is_dir():
        driver = ContainerGuestDriver(str(state), container_prefix(settings), image_cache_max_age=age)
        caches.append(("container", driver.cache))
    if settings.compute.driver == "qemu" or (state / "qemu" / "images").is_dir():  # verified raw bases, not mounted
        caches.append(("qemu", ImageCache(state / "qemu" / "images", max_unused_age=age, mount=False)))
    return caches


@admin_image_cache.command("list")
@click.option("--data-dir")
@click.option("--config", "config_file")
def admin_image_cache_list(data_dir: str | None, config_file: str | None) -> None:
    """Cached images: id, driver, kind, size, idle time and the guests using each."""
    now = time.time()
    click.echo(f"{'IMAGE':<36}  {'DRIVER':<9}  {'KIND':<10}  {'SIZE':>10}  {'IDLE':>8}  GUESTS")
    for driver, cache in _image_caches(data_dir, config_file):
        for img in cache.list():
            click.echo(f"{img.image_id:<36}  {driver:<9}  {img.kind:<10}  {img.size:>10}  "
                       f"{int(now - img.last_used):>7}s  {len(img.users)}")


@admin_image_cache.command("prune")
@click.option("--max-age", type=float,
              help="Remove unused images idle this many seconds (default: [compute] "
                   "remove_unused_original_minimum_age_seconds).")
@click.option("--data-dir")
@click.option("--config", "config_file")
def admin_image_cache_prune(max_age: float | None, data_dir: str | None, config_file: str | None) -> None:
    """Remove cached images no guest uses and nobody used for the maximum age."""
    removed = [i for _, cache in _image_caches(data_dir, config_file) for i in cache.prune(max_unused_age=max_age)]
    click.echo(f"removed {len(removed)} cached image(s)" + (f": {', '.join(removed)}" if removed else ""))


@main.group()
def image() -> None:
    """Test images built from Debian packages, offline."""


@image.command("build")
@click.argument("kind", type=click.Choice(["busybox", "busybox-vm", "debian"]))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the image here (default: only the build cache DATA_DIR/compute/test-images).")
@click.option("--upload/--no-upload", default=True, show_default=True,
              help="Register it as a public image in the image service of the cloud in --data-dir.")
@click.option("--name", help="The image's name (default: the kind).")
@click.option("--force", is_flag=True, help="Upload a new image even when an active one has this name.")
@click.option("--mirror", help="debian: the Debian mirror URL (default: the host's apt source of the suite).")
@click.option("--suite", help="debian: the Debian suite (default: the host's, VERSION_CODENAME).")
@click.option("--data-dir")
@click.option("--config", "config_file")
def image_build(kind: str, output: Path | None, upload: bool, name: str | None, force: bool, mirror: str | None,
                suite: str | None, data_dir: str | None, config_file: str | None) -> None:
    """Build a small test image and upload it: busybox (a root filesystem tarball, disk_format raw,
    container_format compressed, for the container driver), busybox-vm (QEMU driver: Debian cloud
    kernel (aki) + busybox initramfs (ari) + qcow2 root disk with kernel_id/ramdisk_id) or debian
    (container driver: a debootstrap minbase root filesystem tarball of the host's suite, fetched from
    its apt mirror: takes minutes the first time, then cached)."""
    import shutil

    from onestack.compute import testimage

    if kind != "debian" and (mirror or suite):
        raise click.UsageError("--mirror and --suite are for the debian image only")
    settings = _settings(data_dir, None, config_file)
    cache = settings.data_path / "compute" / "test-images"
    name = name or kind
    try:
        if kind == "busybox-vm":
            files = testimage.vm_image_files(cache)
            path = files.root
            click.echo(f"built {files.kernel} (aki), {files.ramdisk} (ari), {files.root} (qcow2, kernel "
                       f"{files.kernel_version})")
        elif kind == "debian":
            debian = testimage.debian_tarball(cache, mirror, suite, progress=click.echo)
            path = debian.path
            click.echo(f"{'cached' if debian.cached else 'built'} {path} ({path.stat().st_size} bytes, disk_format="
                       f"raw, container_format=compressed; Debian {debian.suite} from {debian.mirror})")
        else:
            path = testimage.busybox_tarball(cache)
            click.echo(f"built {path} ({path.stat().st_size} bytes, disk_format=raw, container_format=compressed)")
    except testimage.TestImageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, output)
        click.echo(f"wrote {output}")
    if not upload:
        return
    from onestack.app import build

    cloud = build(settings)
    try:
        _migrate(cloud.engine)
        client = cloud.clients["image"]
        if kind == "debian":
            image = testimage.ensure_debian_image(client, cache, name=name, force=force, mirror=mirror, suite=suite)
        elif kind == "busybox-vm":
            image = testimage.ensure_vm_image(client, cache, name=name, force=force)
        else:
            image = testimage.ensure_busybox_image(client, cache, name=name, force=force)
    finally:
        cloud.engine.dispose()
    click.echo(f"image {image['name']} {image['id']}: {image['status']}, {image['visibility']}, "
               f"{image.get('size')} bytes")


@main.command()
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(["compute", "scheduler"]),
              help="What to run: compute (host agent) and/or scheduler; repeat for several.")
@click.option("--driver", help="Guest driver of the compute role (default: [compute] driver).")
@click.option("--fake-hosts", type=int, help="With the fake driver: simulate this many hosts in this process.")
@click.option("--host", help="This host's name (default: [compute] host, else the hostname).")
@click.option("--workers", type=int, default=4, show_default=True, help="Reconcile worker threads per role.")
@click.option("--data-dir")
@click.option("--config", "config_file")
@click.option("--verbose", is_flag=True)
def agent(roles: tuple[str, ...], driver: str | None, fake_hosts: int | None, host: str | None, workers: int,
          data_dir: str | None, config_file: str | None, verbose: bool) -> None:
    """Run agents only (scaled out: one per host, sharing the database and the bus with the API)."""
    import signal
    import threading

    _logging(verbose)
    try:
        settings = config_mod.load(config_file, data_dir=data_dir,
                                   compute={"driver": driver, "fake_hosts": fake_hosts, "host": host})
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from onestack.app import build
    from onestack.compute.agent import build_agents as build_compute_agents
    from onestack.compute.agent import host_names

    cloud = build(settings)
    agents = []
    if "compute" in roles or "scheduler" in roles:
        try:
            agents += build_compute_agents(settings, cloud.uow, cloud.bus, cloud.clients,
                                           compute="compute" in roles, scheduler="scheduler" in roles,
                                           hosts=host_names(settings), workers=workers)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    _freeze_start_up()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for item in agents:
        item.start()
    hosts = len(host_names(settings)) if "compute" in roles else 0
    click.echo(f"onestack agent running: roles {', '.join(roles)}"
               + (f", {hosts} host(s) with the {settings.compute.driver} driver" if hosts else ""), err=True)
    try:
        stop.wait()
    finally:
        for item in agents:
            item.stop()
        cloud.engine.dispose()


if __name__ == "__main__":
    main()
