"""The coalescing transport (one socket write per event-loop turn, nothing held longer) and request
bodies read straight into the application's buffers (``RECEIVE_INTO``) on a real uvicorn server."""

import asyncio
import os
import socket
import threading
import time

import pytest
import uvicorn
from starlette.requests import ClientDisconnect

from onestack.core.serving import RECEIVE_INTO, SENDFILE, CoalescingTransport, http_protocol
from onestack.core.testing.process import free_port


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_of_one_turn_go_out_together():
    async def scenario():
        real = FakeTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"{}")
        assert real.writes == [] and transport.get_write_buffer_size() == 21
        await asyncio.sleep(0)
        assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        transport.write(b"next")
        await asyncio.sleep(0)
        assert real.writes[-1] == b"next"

    asyncio.run(scenario())


def test_close_sends_what_is_pending_first():
    async def scenario():
        real = FakeTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"bye")
        transport.close()
        assert real.writes == [b"bye"] and real.closed
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        assert real.writes == [b"bye"]

    asyncio.run(scenario())


def test_large_bodies_are_written_at_once():
    async def scenario():
        real = FakeTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"head")
        transport.write(b"x" * 70000)
        assert real.writes == [b"head" + b"x" * 70000]
        transport.write(b"y" * 70000)
        assert real.writes[-1] == b"y" * 70000 and transport.get_write_buffer_size() == 0

    asyncio.run(scenario())


# -- request bodies read straight into the application's buffers ----------------------------------

class BodyApp:
    """Reads up to ``limit`` bytes of each body through RECEIVE_INTO in 1000-byte buffers and answers
    with how many it got and their sum; records disconnects."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.events: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            return await self.send_file(scope, send)
        direct = scope.get("extensions", {}).get(RECEIVE_INTO)
        total = got = 0
        if direct is not None:
            buf = memoryview(bytearray(1000))
            try:
                while self.limit is None or got < self.limit:
                    n = await direct.readinto(buf)
                    got += n
                    total += sum(buf[:n])
                    if n < len(buf):
                        break
            except ClientDisconnect:
                self.events.append("disconnect")
                return
        body = f"{direct is not None} {got} {total}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


    async def send_file(self, scope, send) -> None:
        """GET /<flags>/<offset>/<count>: that part of ``self.file`` sent through SENDFILE."""
        _, flags, offset, count = scope["path"].split("/")
        sender = scope["extensions"][SENDFILE]
        fd = os.open(self.file, os.O_RDONLY | (os.O_DIRECT if flags == "direct" else 0))
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", count.encode())]})
            await sender.sendfile(fd, int(offset), int(count))
            await send({"type": "http.response.body", "body": b""})
        finally:
            os.close(fd)


@pytest.fixture(params=["uvloop", "asyncio"])
def body_server(request, tmp_path):
    app = BodyApp()
    app.file = tmp_path / "data"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, http=http_protocol(), host="127.0.0.1", port=port, loop=request.param,
                                           log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    try:
        yield app, port
    finally:
        server.should_exit = True
        thread.join(10)


def _request(body: bytes, extra: str = "") -> bytes:
    return (f"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _responses(sock: socket.socket, count: int) -> list[bytes]:
    data, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            assert more, "connection closed"
            data += more
        head, data = data.split(b"\r\n\r\n", 1)
        if head.startswith(b"HTTP/1.1 100"):
            continue
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(data) < length:
            data += sock.recv(65536)
        out.append(data[:length])
        data = data[length:]
    return out


def test_body_read_into_buffers_then_next_request_on_the_same_connection(body_server):
    app, port = body_server
    big = bytes(range(256)) * 4000  # 1 MB: most of it read by the buffered receiver
    with socket.create_connection(("127.0.0.1", port)) as sock:
        # the second request follows in the same write: the body read must stop at its end
        sock.sendall(_request(big) + _request(b"\x01" * 1500))
        first, second = _responses(sock, 2)
        sock.sendall(_request(b"\x02" * 10))
        third, = _responses(sock, 1)
    assert first == f"True {len(big)} {sum(big)}".encode()
    assert second == b"True 1500 1500"
    assert third == b"True 10 20"


def test_body_left_unread_is_drained_for_the_next_request(body_server):
    app, port = body_server
    app.limit = 3000
    body = b"\x01" * 600_000
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request(body))
        first, = _responses(sock, 1)
        sock.sendall(_request(b"\x01" * 5))
        second, = _responses(sock, 1)
    assert first == b"True 3000 3000"
    assert second == b"True 5 5"


def test_expect_100_continue_is_answered_before_reading(body_server):
    app, port = body_server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request(b"", "Expect: 100-continue\r\n").replace(b"Content-Length: 0", b"Content-Length: 4"))
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"\x03\x03\x03\x03")
        response, = _responses(sock, 1)
    assert response == b"True 4 12"


def test_client_gone_mid_body_raises_client_disconnect(body_server):
    app, port = body_server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_request(b"\x01" * 1000).replace(b"Content-Length: 1000", b"Content-Length: 90000"))
        # ... and the rest never comes
    deadline = time.monotonic() + 10
    while "disconnect" not in app.events:
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("flags", ["plain", "direct"])
def test_file_parts_sent_by_the_kernel_then_next_request(body_server, flags):
    app, port = body_server
    data = os.urandom(5 << 20)  # several of the O_DIRECT reader's blocks
    app.file.write_bytes(data)
    parts = [(0, len(data)), (4097, 3 << 20), (len(data) - 10, 10)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for offset, count in parts:
            sock.sendall(f"GET /{flags}/{offset}/{count} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            body, = _responses(sock, 1)
            assert body == data[offset:offset + count]
        sock.sendall(_request(b"\x01"))
        assert _responses(sock, 1) == [b"True 1 1"]


@pytest.mark.parametrize("flags", ["plain", "direct"])
def test_client_gone_mid_file_frees_the_sender(body_server, flags):
    app, port = body_server
    app.file.write_bytes(os.urandom(32 << 20))
    before = threading.active_count()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /{flags}/0/{32 << 20} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert sock.recv(4096)
    deadline = time.monotonic() + 10
    while threading.active_count() > before + 1:  # the reader thread of an O_DIRECT send is gone
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET /{flags}/0/5 HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        assert _responses(sock, 1) == [app.file.read_bytes()[:5]]
