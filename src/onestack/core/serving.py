"""The HTTP server's wire: uvicorn (httptools, uvloop) with one write per response.

An ASGI response is two messages (status and headers, then the body) and uvicorn writes each to the
socket at once: two send(2) calls, and over loopback two wake-ups of the client, for every small JSON
answer -- the biggest single cost of a cached token validation.  The transport below gathers what is
written within one turn of the event loop and sends it together at the end of the turn, so a
response costs one system call.  Nothing waits longer than the current turn.
"""

from __future__ import annotations

import asyncio


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


def http_protocol():
    """uvicorn's httptools protocol writing through a ``CoalescingTransport`` (``uvicorn.Config(http=...)``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, asyncio.get_running_loop()))

    return CoalescingHttpToolsProtocol
