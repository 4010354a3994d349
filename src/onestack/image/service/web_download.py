"""The web-download import method: the image's data is fetched from a URL by the service.

As upstream: the import call is checked (method enabled, image ``queued`` with both formats, no
import in progress, the URL passes the ``web_download_*`` filters -- upstream's
``[import_filtering_opts]`` with the same defaults and precedence: an allow list, when set, wins over
its deny list; a port is checked only when the URL names one) and answered 202; the download runs
on the import pool.  The image is ``importing`` (with the properties of ``importing.py``) and ends
``active``, or back in ``queued`` with the store in ``os_glance_failed_import`` and no data kept.
Redirects are followed only to URLs that pass the same filters.  Bytes go through a
``DataSession``: hashes, format inspection, size cap and quota as for an upload.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future
from urllib.parse import urlsplit

import httpx

from onestack.core.context import RequestContext
from onestack.core.errors import BadRequest, Conflict

from .. import states
from . import quotas
from .common import Deps
from .images import get_image
from .importing import TASK, begin, settle

log = logging.getLogger(__name__)

METHOD = "web-download"
MAX_REDIRECTS = 5


class DownloadError(Exception):
    pass


def _items(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def uri_allowed(settings, uri: str | None) -> bool:
    """Upstream's filtering: scheme, then host, then port (only when the URL names one)."""
    if not uri:
        return False
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return False
    scheme, host = parts.scheme, parts.hostname
    allowed = _items(settings.web_download_allowed_schemes)
    denied = [] if allowed else _items(settings.web_download_disallowed_schemes)
    if not scheme or (allowed and scheme not in allowed) or scheme in denied:
        return False
    allowed = _items(settings.web_download_allowed_hosts)
    denied = [] if allowed else _items(settings.web_download_disallowed_hosts)
    if not host or (allowed and host not in allowed) or host in denied:
        return False
    allowed_ports = [int(p) for p in _items(settings.web_download_allowed_ports)]
    denied_ports = [] if allowed_ports else [int(p) for p in _items(settings.web_download_disallowed_ports)]
    return not (port and ((allowed_ports and port not in allowed_ports) or port in denied_ports))


def start(deps: Deps, ctx: RequestContext | None, image_id: str, uri: str | None) -> Future:
    """Check the request as upstream does, move the image to ``importing`` and start the download;
    returns the download's future (the API answers 202 without waiting)."""
    from .data import UPLOAD, DataSession  # deferred: data imports this module for its dispatch

    with deps.uow() as uow:
        owner = get_image(uow, ctx, image_id).owner
    size_limit = deps.limit("image_size_total", owner)
    uploading_limit = deps.limit("image_count_uploading", owner)
    with deps.uow(write=True) as uow:
        image = get_image(uow, ctx, image_id, lock=True)
        usage = quotas.stored_bytes(uow.session, image.owner) if image.owner else 0
        quotas.check_size(image.owner, "image_size_total", size_limit, usage)
        if image.status == states.ACTIVE:
            raise Conflict("Image with status active cannot be target for import")
        if image.status != states.QUEUED:
            raise Conflict(f"Image needs to be in 'queued' state to use '{METHOD}' method")
        if not image.container_format:
            raise Conflict("'container_format' needs to be set before import")
        if not image.disk_format:
            raise Conflict("'disk_format' needs to be set before import")
        if TASK in image.extra():
            raise Conflict(f"New operation on image '{image_id}' is not permitted as prior operation is still "
                           "in progress")
        if not uri_allowed(deps.settings, uri):
            raise BadRequest(f"URI for web-download does not pass filtering: {uri}")
        quotas.check_uploading(uow.session, uploading_limit, image.owner)
        image.status = states.IMPORTING
        begin(image, deps.store.id)
        uow.flush()
        remaining = quotas.remaining_bytes(size_limit, usage) if image.owner else None
        session = DataSession(deps, image, UPLOAD, None, remaining, from_status=states.IMPORTING)
    session.on_settle = lambda row, ok: settle(row, deps.store.id, ok)
    return deps.tasks.submit(_run, deps, session, uri)


def _run(deps: Deps, session, uri: str) -> None:
    try:
        parts: list[bytes] = []
        buffered = 0
        for chunk in fetch(deps.settings, uri):
            parts.append(chunk)
            buffered += len(chunk)
            if buffered >= session.BLOCK:
                session.write(parts)
                parts, buffered = [], 0
        session.write(parts)
        session.finish()
    except BaseException as exc:
        log.warning("web-download of image %s from %s failed: %s", session.image_id, uri, exc)
        session.fail()
        if not isinstance(exc, Exception):
            raise
        return
    log.info("web-download of image %s from %s: %d bytes", session.image_id, uri, session.size)


def fetch(settings, uri: str) -> Iterator[bytes]:
    """The body at ``uri`` as served (no content decoding), following redirects that pass the filters."""
    timeout = httpx.Timeout(settings.web_download_timeout)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        url = uri
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as resp:
                if resp.is_redirect and "location" in resp.headers:
                    url = str(resp.url.join(resp.headers["location"]))
                    if not uri_allowed(settings, url):
                        raise DownloadError(f"redirect to {url} does not pass filtering")
                    continue
                if resp.status_code != 200:
                    raise DownloadError(f"GET {url} answered {resp.status_code}")
                yield from resp.iter_raw()
                return
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects")
