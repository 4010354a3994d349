"""The HTTP server's wire: uvicorn (httptools, uvloop) with one write per response, and request
bodies read straight into the application's buffers.

An ASGI response is two messages (status and headers, then the body) and uvicorn writes each to the
socket at once: two send(2) calls, and over loopback two wake-ups of the client, for every small JSON
answer -- the biggest single cost of a cached token validation.  The transport below gathers what is
written within one turn of the event loop and sends it together at the end of the turn, so a
response costs one system call.  Nothing waits longer than the current turn.

Request bodies normally reach the application as ASGI messages: every socket read becomes a bytes
object, httptools copies each body slice into another, uvicorn appends those to a bytearray and
copies that into the message -- four copies and several Python calls per 64 KiB, more CPU than the
md5 of an image upload leaves to spare.  ``DirectBody`` (offered to the application as the scope
extension ``RECEIVE_INTO``) instead lends the connection, for the rest of one request's body, to a
buffered protocol that lets the event loop read from the socket into the application's own buffer
(megabytes per read), then gives the connection back to a fresh HTTP parser for the next request.

Response bodies held in files go the other way without passing through the event loop: ``FileSender``
(the scope extension ``SENDFILE``) writes them to the socket from a worker thread (a file read may
wait for the disk; the event loop must not): with ``sendfile(2)``, or for a file opened with O_DIRECT
(its owner keeps it out of the page cache) by aligned reads on a second thread into a few buffers
that the first sends from, so reading the disk and sending overlap and nothing is copied in Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import queue
import select
import threading

import httptools
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

RECEIVE_INTO = "onestack.receive_into"
SENDFILE = "onestack.sendfile"


class CoalescingTransport:
    """A transport that sends everything written during one event-loop turn in a single write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size >= 65536:  # streamed bodies go out at once (and keep uvicorn's flow control working)
            self._flush()

    def flush(self) -> None:
        """Send what was written in this turn now."""
        self._flush()

    def _flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending, self._size = [], 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default=None):
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_protocol(self, protocol) -> None:
        self._transport.set_protocol(protocol)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    @property
    def raw(self) -> asyncio.Transport:
        return self._transport


class DirectBody:
    """The rest of one request's body (Content-Length bodies only), read into caller buffers.

    ``await readinto(view)`` fills ``view`` and returns how many bytes it holds: fewer than its length
    only at the end of the body, 0 once all of it was read.  Raises ``ClientDisconnect`` if the
    client goes away first.  Never reads past the body: the next request on the connection stays in
    the socket for the HTTP parser.  Use one reader per request, one call at a time.
    """

    def __init__(self, protocol, cycle, length: int) -> None:
        self.protocol = protocol
        self.cycle = cycle
        self.remaining: int | None = None  # body bytes not read from the socket yet (known once direct)
        self.length = length
        self.target: memoryview | None = None
        self.got = 0
        self.waiter: asyncio.Future | None = None
        self.spill = bytearray()  # read while no buffer was lent (after the app stopped reading)
        self.receiver: _BodyReceiver | None = None

    async def readinto(self, view: memoryview) -> int:
        cycle = self.cycle
        if cycle.disconnected:
            raise ClientDisconnect()
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        got = 0
        for held in (cycle.body, self.spill):  # what the HTTP parser (or a drain) read already
            if held and got < len(view):
                n = min(len(held), len(view) - got)
                view[got:got + n] = held[:n]
                del held[:n]
                got += n
        if got == len(view) or not cycle.more_body:
            return got
        if self.receiver is None:
            self._take_over()
        if self.remaining == 0:
            return got
        self.target, self.got = view, got
        self.waiter = asyncio.get_running_loop().create_future()
        self.protocol.flow.resume_reading()
        try:
            return await self.waiter
        finally:
            self.target = self.waiter = None

    def _take_over(self) -> None:
        protocol = self.protocol
        self.remaining = self.length - protocol.body_seen
        self.receiver = _BodyReceiver(self)
        protocol.flow.pause_reading()
        protocol.transport.raw.set_protocol(self.receiver)

    def get_buffer(self) -> memoryview | bytearray:
        if self.target is not None:
            want = min(len(self.target) - self.got, self.remaining)
            return self.target[self.got:self.got + want]
        return bytearray(min(self.remaining, 1 << 16))  # drained: nobody waits for these bytes

    def buffer_updated(self, buf, n: int) -> None:
        self.protocol._unset_keepalive_if_required()
        self.remaining -= n
        if self.target is not None:
            self.got += n
        elif not self.cycle.response_complete:
            self.spill += buf[:n]
        if self.remaining == 0:
            self._give_back()
        if self.target is not None and (self.got == len(self.target) or self.remaining == 0):
            if self.remaining:
                self.protocol.flow.pause_reading()  # until the next buffer is lent
            if not self.waiter.done():
                self.waiter.set_result(self.got)
            self.target = None

    def _give_back(self) -> None:
        """The body is read: the connection goes back to HTTP, with a parser at a request boundary."""
        protocol = self.protocol
        protocol.parser = httptools.HttpRequestParser(protocol)
        protocol.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn sets its own
        protocol.transport.raw.set_protocol(protocol)
        self.cycle.more_body = False
        self.cycle.message_event.set()

    def lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ClientDisconnect())
        self.protocol.connection_lost(exc)


class _BodyReceiver(asyncio.BufferedProtocol):
    """Stands in for the HTTP protocol while a body is read into the application's buffers."""

    def __init__(self, body: DirectBody) -> None:
        self.body = body
        self.buf: memoryview | bytearray | None = None

    def get_buffer(self, sizehint: int):
        self.buf = self.body.get_buffer()
        return self.buf

    def buffer_updated(self, nbytes: int) -> None:
        buf, self.buf = self.buf, None
        self.body.buffer_updated(buf, nbytes)

    def eof_received(self):
        return self.body.protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.body.lost(exc)

    def pause_writing(self) -> None:
        self.body.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.body.protocol.resume_writing()


class FileSender:
    """Part of a response body sent from a file with ``sendfile(2)``.

    Send ``http.response.start`` (with Content-Length) as usual, ``await sendfile(fd, offset, count)``
    as many times as needed, then the final ``http.response.body`` message: the bytes sent here count
    towards the Content-Length.  Raises ``ClientDisconnect`` if the client goes away.
    """

    POLL_MS = 1000  # how often a send blocked on a full socket checks that the connection still exists

    def __init__(self, protocol, cycle) -> None:
        self.protocol = protocol
        self.cycle = cycle
        self.gone = False

    async def sendfile(self, fd: int, offset: int, count: int) -> None:
        cycle = self.cycle
        transport = self.protocol.transport
        transport.flush()  # the status line and headers go first...
        while transport.raw.get_write_buffer_size() and not cycle.disconnected:
            await asyncio.sleep(0.001)  # ...and all of them (rare: the socket was full)
        if cycle.disconnected or transport.is_closing():
            raise ClientDisconnect()
        sock = os.dup(transport.get_extra_info("socket").fileno())
        try:
            sent = await run_in_threadpool(self._send, sock, fd, offset, count)
        finally:
            os.close(sock)
        cycle.expected_content_length -= sent
        if sent < count:
            raise ClientDisconnect()

    def _send(self, sock: int, fd: int, offset: int, count: int) -> int:
        """In a worker thread: the socket stays non-blocking (the event loop shares it), so wait for
        room with poll; stops early if the connection is lost."""
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        if fcntl.fcntl(fd, fcntl.F_GETFL) & _O_DIRECT:
            return self._send_direct(poller, sock, fd, offset, count)
        sent = 0
        while sent < count and not self.cycle.disconnected:
            try:
                n = os.sendfile(sock, fd, offset + sent, count - sent)
            except BlockingIOError:
                poller.poll(self.POLL_MS)
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if n == 0:  # the file is shorter than promised
                break
            sent += n
        return sent

    def _send_direct(self, poller, sock: int, fd: int, offset: int, count: int) -> int:
        full: queue.Queue = queue.Queue(1)
        stop = threading.Event()
        reader = threading.Thread(target=_read_direct, args=(fd, offset, count, full, stop), daemon=True,
                                  name="sendfile-read")
        reader.start()
        sent = 0
        try:
            while (item := full.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                view, done = item
                try:
                    position = 0
                    while position < len(view):
                        if self.cycle.disconnected:
                            return sent
                        try:
                            position += os.write(sock, view[position:])
                        except BlockingIOError:
                            poller.poll(self.POLL_MS)
                        except (BrokenPipeError, ConnectionResetError):
                            return sent
                    sent += len(view)
                finally:
                    view.release()
                    done.set()
            return sent
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting to hand over its next block
                try:
                    item = full.get(timeout=0.1)
                except queue.Empty:
                    continue
                if isinstance(item, tuple):
                    item[0].release()
                    item[1].set()
            reader.join()


_O_DIRECT = getattr(os, "O_DIRECT", 0)
_ALIGN = 4096
_DIRECT_BLOCK = 2 << 20
_DIRECT_BLOCKS = 3  # one being sent, one handed over, one being read


def _read_direct(fd: int, offset: int, count: int, full: queue.Queue, stop: threading.Event) -> None:
    """Aligned reads of ``count`` bytes from ``offset`` into rotating page-aligned buffers, each handed
    over as (view, done) and reused once ``done`` is set; None at the end, an exception on error."""
    buffers = [mmap.mmap(-1, _DIRECT_BLOCK) for _ in range(_DIRECT_BLOCKS)]
    released = [threading.Event() for _ in buffers]
    for event in released:
        event.set()
    try:
        position = offset - offset % _ALIGN
        skip, left = offset - position, count
        i = 0
        while left > 0 and not stop.is_set():
            k = i % len(buffers)
            released[k].wait()
            released[k].clear()
            n = os.preadv(fd, [buffers[k]], position)
            if n <= skip:
                break
            end = min(n, skip + left)
            full.put((memoryview(buffers[k])[skip:end], released[k]))
            left -= end - skip
            position += n
            skip = 0
            i += 1
            if n < _DIRECT_BLOCK:
                break
        full.put(None)
    except BaseException as exc:  # delivered to the sending thread
        full.put(exc)
    finally:
        for k, event in enumerate(released):
            if event.wait(timeout=10):
                with contextlib.suppress(BufferError):  # else the GC frees it
                    buffers[k].close()


def http_protocol():
    """uvicorn's httptools protocol writing through a ``CoalescingTransport`` (``uvicorn.Config(http=...)``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        body_seen = 0  # body bytes of the current request the parser has handed over

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, asyncio.get_running_loop()))

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self.body_seen = 0
            if self.cycle.scope is not self.scope:
                return  # an upgrade
            if self.scope["method"] == "GET":
                self.scope.setdefault("extensions", {})[SENDFILE] = FileSender(self, self.cycle)
                return
            length = None
            for name, value in self.headers:
                if name == b"content-length":
                    length = value
                elif name == b"transfer-encoding":
                    return
            if length is not None and length.isdigit() and int(length):
                self.scope.setdefault("extensions", {})[RECEIVE_INTO] = DirectBody(self, self.cycle, int(length))

        def on_body(self, body: bytes) -> None:
            self.body_seen += len(body)
            super().on_body(body)

    return CoalescingHttpToolsProtocol
