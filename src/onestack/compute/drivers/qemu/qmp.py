"""A tiny synchronous QMP client (QEMU Machine Protocol: JSON lines over a unix socket).

Why not ``qemu.qmp``: the guest driver's methods are synchronous and run on the agent's worker
threads, and the driver needs four things — connect, negotiate capabilities, run a command, skip
asynchronous events.  ``qemu.qmp`` is asyncio-only, so every call would spin an event loop; the
protocol subset we use fits in this module.
"""

from __future__ import annotations

import itertools
import json
import socket
from typing import Any

from .errors import QemuError


class QmpError(QemuError):
    def __init__(self, command: str, klass: str, desc: str) -> None:
        super().__init__(f"QMP {command}: {desc}")
        self.klass = klass
        self.desc = desc


class QmpClient:
    """One connection; use as a context manager.  Events are collected in ``events``."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.path = path
        self.events: list[dict] = []
        self._ids = itertools.count(1)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
            self._file = self._sock.makefile("rwb")
            greeting = self._read()
            if "QMP" not in greeting:
                raise QemuError(f"{path} does not speak QMP")
            self.execute("qmp_capabilities")
        except OSError as exc:
            self._sock.close()
            raise QemuError(f"cannot reach the QMP socket {path}: {exc}") from exc
        except QemuError:
            self._sock.close()
            raise

    def _read(self) -> dict:
        line = self._file.readline()
        if not line:
            raise QemuError("QEMU closed the QMP connection")
        return json.loads(line)

    def execute(self, command: str, arguments: dict | None = None) -> Any:
        ident = f"os-{next(self._ids)}"
        msg: dict = {"execute": command, "id": ident}
        if arguments:
            msg["arguments"] = arguments
        try:
            self._file.write(json.dumps(msg).encode() + b"\n")
            self._file.flush()
            while True:
                reply = self._read()
                if "event" in reply:
                    self.events.append(reply)
                    continue
                if reply.get("id") != ident:
                    continue
                if "error" in reply:
                    err = reply["error"]
                    raise QmpError(command, err.get("class", ""), err.get("desc", "error"))
                return reply.get("return")
        except OSError as exc:
            if command == "quit":  # QEMU may close the socket before answering
                return None
            raise QemuError(f"QMP {command} failed: {exc}") from exc
        except QemuError:
            if command == "quit":
                return None
            raise

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self) -> QmpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
