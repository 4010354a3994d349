"""The coalescing transport: one socket write per event-loop turn, nothing held longer."""

import asyncio

from onestack.core.serving import CoalescingTransport


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
