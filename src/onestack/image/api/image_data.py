"""Image data: streaming upload and staging (async, never buffering the whole body), streaming
download with Content-MD5 and byte ranges, and glance-direct import."""

from __future__ import annotations

import asyncio
import itertools
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from onestack.core.errors import BadRequest, Forbidden, UnsupportedMediaType
from onestack.core.http import ApiRequest, FileBodyResponse, empty_response
from onestack.core.validation import validate

from ..errors import RangeNotSatisfiable
from ..schemas.images import IMPORT_IMAGE
from ..service import data as svc
from ..service.data import DataSession
from ..states import DEACTIVATED
from .common import enforce, load


def _declared_size(req: ApiRequest) -> int | None:
    value = req.headers.get("x-openstack-image-size")
    if value is None:  # as upstream: fall back to Content-Length (absent when chunked)
        value = req.headers.get("content-length")
    if value is None:
        return None
    try:
        size = int(value)
    except ValueError:
        raise BadRequest("Invalid or missing image size in request headers.") from None
    if size < 0:
        raise BadRequest("Invalid or missing image size in request headers.")
    return size


def _check_content_type(req: ApiRequest) -> None:
    ctype = req.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    if ctype != "application/octet-stream":
        raise UnsupportedMediaType(f"Content type {ctype} is not supported; use application/octet-stream.")


async def _pump(req: ApiRequest, session: DataSession) -> None:
    """Read the request body into the session's blocks (straight from the socket when the server
    allows it) and hand each full block on, receiving the next while earlier ones are hashed and
    written.  A block is refilled only once every lane is done with it."""
    reader = req.body_reader()
    blocks = session.blocks()
    for i in itertools.count():
        view = blocks[i % len(blocks)]
        n = await reader.readinto(view)
        if n:
            session.submit(view[:n])
        if n < len(view):
            return
        while (oldest := session.backlog()) is not None:
            await asyncio.wrap_future(oldest)


async def _receive(req: ApiRequest, rule: str, begin) -> Response:
    _check_content_type(req)
    declared = _declared_size(req)
    image_id = req.params["image_id"]

    def authorize() -> None:
        with req.deps.uow() as uow:
            load(req, uow, rule)

    await run_in_threadpool(authorize)
    session = await run_in_threadpool(begin, req.deps, req.ctx, image_id, declared)
    try:
        await _pump(req, session)
        await run_in_threadpool(session.finish)
    except ClientDisconnect:
        await run_in_threadpool(session.fail)
        raise BadRequest("The client disconnected before sending all image data.") from None
    except BaseException:
        await run_in_threadpool(session.fail)
        raise
    return empty_response(204)


async def upload_image_data(req: ApiRequest) -> Response:
    return await _receive(req, "upload_image", svc.begin_upload)


async def stage_image_data(req: ApiRequest) -> Response:
    return await _receive(req, "upload_image", svc.begin_stage)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def _range(req: ApiRequest, size: int) -> tuple[int, int] | None:
    """(offset, length) asked for by Range (or, as upstream still accepts, Content-Range)."""
    header = req.headers.get("range")
    if header is not None:
        m = _RANGE.match(header.strip().replace(" ", ""))
        if not m or (m.group(1) == "" and m.group(2) == ""):
            raise RangeNotSatisfiable("Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
        first, last = m.group(1), m.group(2)
        if first == "":  # suffix: the last N bytes
            n = int(last)
            if n == 0:
                raise RangeNotSatisfiable("Requested range not satisfiable",
                                          headers={"Content-Range": f"bytes */{size}"})
            start = max(0, size - n)
            return start, size - start
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if start >= size or end < start:
            raise RangeNotSatisfiable("Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
        return start, end - start + 1
    header = req.headers.get("content-range")
    if header is not None:
        m = _CONTENT_RANGE.match(header.strip())
        if not m:
            raise RangeNotSatisfiable("Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
        start, end = int(m.group(1)), int(m.group(2))
        if start > end or start >= size:
            raise RangeNotSatisfiable("Requested range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
        end = min(end, size - 1)
        return start, end - start + 1
    return None


def download_image_data(req: ApiRequest) -> Response:
    deps = req.deps
    with deps.uow() as uow:
        image = load(req, uow)
        if image.status == DEACTIVATED and not req.ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        enforce(req, "download_image", image)
        size, checksum = image.size, image.checksum
        if not image.store or size is None:
            return empty_response(204)
        wanted = _range(req, size)
        offset, length = wanted if wanted else (0, size)
        if req.method != "HEAD" and (opened := svc.open_data(deps, image)) is not None:
            chunks = None
        else:
            opened, chunks = None, svc.read_data(deps, image, offset, length)
            if chunks is None:
                return empty_response(204)
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length)}
    if checksum:
        headers["Content-MD5"] = checksum
    status = 200
    if wanted:
        status = 206
        headers["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{size}"
    if req.method == "HEAD":
        close = getattr(chunks, "close", None)
        if close:
            close()
        return Response(b"", status, headers)
    if opened is not None:  # a local file: the kernel sends it (no copy through Python)
        return FileBodyResponse(opened, offset, length, status, headers)
    return StreamingResponse(_read_ahead(chunks), status, headers)


async def _read_ahead(chunks):
    """Yield the store's chunks, reading the next one (in a thread) while this one is sent."""
    it = iter(chunks)
    pending = asyncio.ensure_future(run_in_threadpool(next, it, None))
    try:
        while (chunk := await pending) is not None:
            pending = asyncio.ensure_future(run_in_threadpool(next, it, None))
            yield chunk
    finally:
        if not pending.done():  # the client went away while a read was in flight
            await asyncio.gather(pending, return_exceptions=True)
        close = getattr(it, "close", None)
        if close:
            close()


def import_image(req: ApiRequest) -> Response:
    body = req.json()
    if not isinstance(body, dict):
        raise BadRequest("Body expected in request.")
    validate(IMPORT_IMAGE, body)
    method = body.get("method")
    if method is None:
        raise BadRequest("Import request requires a 'method' field.")
    if "name" not in method:
        raise BadRequest("Import request requires a 'name' field.")
    name = method["name"]
    if name not in svc.import_methods(req.deps):
        raise BadRequest(f"Unknown import method name '{name}'.")
    with req.deps.uow() as uow:
        load(req, uow, "modify_image")
    svc.import_image(req.deps, req.ctx, req.params["image_id"], name, method.get("uri"))
    return empty_response(202)
