"""The HTTP layer: one ASGI app, every service mounted under its catalog path.

Each service declares a ``ServiceSpec`` (its prefix, its whole route table, policy defaults and
error format).  The dispatcher here does what is common to every request: request id, one log line,
token -> ``RequestContext``, route lookup (404/405 in the owning service's format), JSON body parsing
and rendering ``ApiError``s.  Handlers are plain functions ``handler(req) -> Response`` run in the
thread pool; ``stream=True`` handlers are coroutines that read/write the body themselves.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .context import RequestContext
from .errors import ApiError, BadRequest, MethodNotAllowed, NotFound, Unauthorized, UnsupportedMediaType
from .microversion import Microversions, Version
from .policy import Enforcer
from .serving import RECEIVE_INTO, SENDFILE

log = logging.getLogger("onestack.api")

Handler = Callable[["ApiRequest"], Response]
QUEUED_AT_ONCE = max(2, os.cpu_count() or 1)  # queued routes' handlers running at once (each mostly CPU)
ErrorFormat = Callable[[ApiError, str], dict]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # relative to the service prefix, e.g. "/v3/users/{user_id}"
    handler: Callable
    public: bool = False  # reachable without a token
    stream: bool = False  # async handler that consumes the request body itself
    versioned: bool = True  # negotiates the service's microversion (discovery documents do not)
    # A non-blocking variant of the handler tried on the event loop first (hot paths served from
    # memory, e.g. validating a cached token); it returns None when it would have to block, and the
    # handler then runs in the thread pool as usual.
    inline: Callable | None = None
    # Handled in arrival order, QUEUED_AT_ONCE at a time (the rest wait their turn): a burst of creates
    # (20 POST /servers at once) then has its first ones done, and their work started, while the others
    # wait, instead of all of them sharing the CPU and finishing together (p50 ~0.55 -> ~0.45 s to ACTIVE).
    queued: bool = False


@dataclass(frozen=True)
class ServiceSpec:
    type: str  # catalog service type
    name: str  # catalog service name (the upstream code name)
    prefix: str  # mount path, e.g. "/identity"
    endpoint_path: str  # what the catalog endpoint URL adds to the base URL, e.g. "/identity/v3"
    routes: Sequence[Route]
    rules: Mapping[str, str]
    error_format: ErrorFormat
    extra_types: tuple[str, ...] = ()  # more catalog types served by the same endpoint
    unauthorized_headers: Callable[[str], dict] | None = None
    microversions: Microversions | None = None  # negotiated on every versioned (non-discovery) route
    request_id_headers: tuple[str, ...] = ()  # more headers carrying the request id (Nova's X-Compute-Request-Id)


@dataclass
class Mount:
    spec: ServiceSpec
    deps: Any  # the service's own dependencies (its client facade), handed to handlers
    enforcer: Enforcer
    table: list = field(default_factory=list)
    static: dict = field(default_factory=dict)  # (method, path) -> route for paths without parameters

    def __post_init__(self) -> None:
        for route in self.spec.routes:
            path = route.path.rstrip("/") or "/"
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
            self.table.append((re.compile(f"^{pattern}$"), route))
            if "{" not in path:
                self.static.setdefault((route.method, path), route)
                if route.method == "GET":
                    self.static.setdefault(("HEAD", path), route)

    def match(self, method: str, path: str) -> tuple[Route, dict]:
        route = self.static.get((method, path))
        if route is not None:
            return route, {}
        allowed = False
        for regex, route in self.table:
            m = regex.match(path)
            if m:
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return route, m.groupdict()
                allowed = True
        if allowed:
            raise MethodNotAllowed(f"The method {method} is not allowed for the requested URL.")
        raise NotFound("The resource could not be found.")


class BodyReader:
    """A streamed request body read into the caller's buffers: straight from the socket when the
    server lends it (``serving.DirectBody``), otherwise copied out of the ASGI messages."""

    def __init__(self, request: Request) -> None:
        self._direct = request.scope.get("extensions", {}).get(RECEIVE_INTO)
        self._stream = None if self._direct is not None else request.stream()
        self._left = memoryview(b"")

    async def readinto(self, view: memoryview) -> int:
        """Fill ``view``; fewer bytes than its length only at the end of the body (0: nothing left)."""
        if self._direct is not None:
            return await self._direct.readinto(view)
        got = 0
        while got < len(view):
            if not self._left:
                chunk = await anext(self._stream, None)
                if chunk is None:
                    break
                self._left = memoryview(chunk)
                continue
            n = min(len(self._left), len(view) - got)
            view[got:got + n] = self._left[:n]
            self._left = self._left[n:]
            got += n
        return got


class FileBodyResponse(Response):
    """A body of ``length`` bytes of an open file from ``offset`` (the caller sets Content-Length):
    sent by the kernel (``serving.FileSender``) when the server offers it, otherwise read in a worker
    thread and streamed.  Closes the file when done."""

    CHUNK = 1 << 20

    def __init__(self, fh, offset: int, length: int, status_code: int = 200, headers: Mapping | None = None) -> None:
        super().__init__(None, status_code, headers)
        self.fh, self.offset, self.length = fh, offset, length

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if scope["method"] != "HEAD":
                sender = scope.get("extensions", {}).get(SENDFILE)
                if sender is not None:
                    await sender.sendfile(self.fh.fileno(), self.offset, self.length)
                else:
                    await self._stream(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except ClientDisconnect:
            pass
        finally:
            self.fh.close()

    async def _stream(self, send) -> None:
        fd, position, end = self.fh.fileno(), self.offset, self.offset + self.length
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        if flags & getattr(os, "O_DIRECT", 0):  # plain reads of any size and offset here
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        while position < end:
            chunk = await run_in_threadpool(os.pread, fd, min(self.CHUNK, end - position), position)
            if not chunk:
                raise ClientDisconnect()  # the file is shorter than announced: end the response short
            position += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


class ApiRequest:
    """What a handler sees: context, path params, query, headers, parsed body, its service deps."""

    def __init__(
        self,
        request: Request,
        mount: Mount,
        params: dict,
        ctx: RequestContext,
        base_url: str,
        body: bytes = b"",
    ) -> None:
        self.raw = request
        self.method = request.method
        self.params = params
        self.ctx = ctx
        self.deps = mount.deps
        self.enforcer = mount.enforcer
        self.base_url = base_url
        self.body = body
        self.headers: Headers = request.headers
        self.version: Version | None = None  # the negotiated microversion, for services that have them
        if "\x00" in request.scope["path"] or b"%00" in request.scope.get("query_string", b""):
            # Databases refuse NUL in strings (PostgreSQL raises): a client error, not a 500.
            raise BadRequest("NUL characters are not allowed in request URLs.")

    def body_reader(self) -> BodyReader:
        """The body of a ``stream=True`` route, read into buffers the handler owns."""
        return BodyReader(self.raw)

    @functools.cached_property
    def query(self) -> QueryParams:
        return self.raw.query_params  # parsed on first use: hot paths without a query never pay for it

    @property
    def url(self) -> str:
        """The public URL of this request without query string."""
        path = self.raw.scope["path"]
        if "?" in path or "#" in path or "\\" in path:  # escaped as Starlette's URL does
            path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
        return self.base_url + path

    def json(self, required: bool = True) -> Any:
        if not self.body:
            if required:
                raise BadRequest("The request body is empty; a JSON document is required.")
            return None
        ctype = self.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype and "json" not in ctype:
            raise UnsupportedMediaType(f"Content type {ctype!r} is not supported; use application/json.")
        try:
            body = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("Malformed request body: it is not valid JSON.") from None
        if b"u0000" in self.body and _contains_nul(body):
            raise BadRequest("Malformed request body: NUL characters are not allowed in strings.")
        return body

    def enforce(self, rule: str, target: Mapping | None = None) -> None:
        self.enforcer.enforce(self.ctx, rule, target)

    def allowed(self, rule: str, target: Mapping | None = None) -> bool:
        return self.enforcer.allowed(self.ctx, rule, target)


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``body`` is a JSON-able value, or ``bytes`` already rendered (e.g. cached)."""
    content = body if isinstance(body, bytes) else json_bytes(body)
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def empty_response(status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
    return Response(b"", status_code=status, headers=headers)


def public_base_url(request: Request, configured: str) -> str:
    if configured:
        return configured
    # Straight from the ASGI scope: building Starlette's URL object costs more than the rest of a
    # cached token validation.
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


class ApiApp:
    """The ASGI application: dispatch to the mount owning the path's prefix."""

    def __init__(
        self,
        mounts: Sequence[Mount],
        authenticate: Callable[[str], RequestContext],
        public_url: str = "",
        log_requests: bool = True,
        root: Mount | None = None,
        authenticate_cached: Callable[[str, str], RequestContext | None] | None = None,
        complete: bool = True,
    ) -> None:
        # Longest prefix first so "/identity" never swallows "/identity-admin"-style siblings.
        self.mounts = sorted(mounts, key=lambda m: len(m.spec.prefix), reverse=True)
        self.authenticate = authenticate
        # Answers from memory (no I/O) on the event loop, or None: then ``authenticate`` runs in a thread.
        self.authenticate_cached = authenticate_cached
        self.public_url = public_url.rstrip("/")
        self.log_requests = log_requests
        self.root = root  # serves "/" (version discovery), usually the identity mount
        self._queues: dict[Route, anyio.CapacityLimiter] = {}  # of the queued routes
        # False while services are still being mounted (start-up): requests for paths no mount serves
        # yet wait for ``add_mounts(..., complete=True)`` instead of failing with 404.
        self._complete = threading.Event()
        if complete:
            self._complete.set()

    def add_mounts(self, mounts: Sequence[Mount], complete: bool = False) -> None:
        self.mounts = sorted([*self.mounts, *mounts], key=lambda m: len(m.spec.prefix), reverse=True)
        if complete:
            self._complete.set()

    async def _mount_for(self, path: str) -> tuple[Mount | None, str]:
        mount, rest = self._find(path)
        while mount is None and not self._complete.is_set():
            await asyncio.sleep(0.02)  # start-up only: the services are being imported and built
            mount, rest = self._find(path)
        return mount, rest

    def _find(self, path: str) -> tuple[Mount | None, str]:
        for mount in self.mounts:
            prefix = mount.spec.prefix
            if path == prefix or path.startswith(prefix + "/"):
                rest = path[len(prefix):].rstrip("/") or "/"
                return mount, rest
        if path == "/" and self.root is not None:
            return self.root, "/"
        return None, path

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = "req-" + str(uuid.uuid4())
        ctx = RequestContext(request_id=request_id)
        mount, rest = await self._mount_for(scope["path"])
        base_url = public_base_url(request, self.public_url)
        extra_headers: dict = {}
        try:
            if mount is None:
                raise NotFound("The resource could not be found.")
            response, ctx = await self._dispatch(request, mount, rest, ctx, base_url, extra_headers)
        except ApiError as err:
            response = self._error(mount, err, request_id, base_url)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, scope["path"])
            response = self._error(mount, ApiError("An unexpected error prevented the server from fulfilling "
                                                   "your request."), request_id, base_url)
        raw_id = request_id.encode("latin-1")
        response.raw_headers.append((b"x-openstack-request-id", raw_id))
        for header in mount.spec.request_id_headers if mount is not None else ():
            response.raw_headers.append((header.lower().encode("latin-1"), raw_id))
        for key, value in extra_headers.items():
            response.headers[key] = value
        if request.method == "HEAD":
            response.body = b""
        if type(response) is Response and response.background is None:
            # What Response.__call__ does for a plain body, without its per-call overhead.
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": response.raw_headers})
            await send({"type": "http.response.body", "body": response.body})
        else:
            await response(scope, receive, send)
        if self.log_requests:
            log.info(
                "%s %s %s %.1fms %s project=%s",
                request.method,
                scope["path"],
                response.status_code,
                (time.perf_counter() - started) * 1000,
                request_id,
                ctx.project_id or "-",
            )

    async def _dispatch(self, request: Request, mount: Mount, rest: str, ctx: RequestContext, base_url: str,
                        extra_headers: dict):
        route, params = mount.match(request.method, rest)
        version = None
        microversions = mount.spec.microversions
        if microversions is not None and route.versioned:
            version = microversions.negotiate(request.headers)
            extra_headers.update(microversions.response_headers(version))
        request_id = ctx.request_id
        token = request.headers.get("x-auth-token")
        if token:
            cached = self.authenticate_cached(token, request_id) if self.authenticate_cached else None
            if cached is not None:
                ctx = cached
            else:
                try:
                    ctx = await run_in_threadpool(self.authenticate, token, request_id)
                except Unauthorized:
                    if not route.public:
                        raise
        elif not route.public:
            raise Unauthorized()
        if route.stream:
            req = ApiRequest(request, mount, params, ctx, base_url)
            req.version = version
            return await route.handler(req), ctx
        if request.method in ("GET", "HEAD") and not ("content-length" in request.headers
                                                      or "transfer-encoding" in request.headers):
            body = b""  # nothing to wait for: skip the receive round trip of the hot read paths
        else:
            body = await request.body()
        req = ApiRequest(request, mount, params, ctx, base_url, body)
        req.version = version
        if route.inline is not None:
            response = route.inline(req)
            if response is not None:
                return response, ctx
        if route.queued:
            return await anyio.to_thread.run_sync(route.handler, req, limiter=self._queue(route)), ctx
        return await run_in_threadpool(route.handler, req), ctx

    def _queue(self, route: Route) -> anyio.CapacityLimiter:
        """The route's first-come, first-served turns (made on the event loop, which alone uses them)."""
        limiter = self._queues.get(route)
        if limiter is None:
            limiter = self._queues[route] = anyio.CapacityLimiter(QUEUED_AT_ONCE)
        return limiter

    def _error(self, mount: Mount | None, err: ApiError, request_id: str, base_url: str) -> Response:
        if mount is None:
            body = {"error": {"code": err.status, "message": err.message}}
        else:
            body = mount.spec.error_format(err, request_id)
        headers = dict(err.headers)
        if err.status == 401 and mount is not None and mount.spec.unauthorized_headers:
            headers.update(mount.spec.unauthorized_headers(base_url))
        return json_response(body, err.status, headers)
