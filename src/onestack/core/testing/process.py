"""The real server as a child process: for e2e tests, conformance runs and benchmarks.

``ServerProcess`` runs ``onestack up --data-dir DIR --listen 127.0.0.1:PORT`` on a free loopback
port, waits until ``GET /identity/v3`` answers 200 and stops the process (and only it) at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def onestack_executable() -> str:
    """The ``onestack`` script next to the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / "onestack"
    return str(candidate) if candidate.exists() else "onestack"


class ServerProcess:
    def __init__(self, data_dir: str | os.PathLike, port: int | None = None, env: dict[str, str] | None = None,
                 log_path: str | os.PathLike | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log_path = Path(log_path) if log_path else self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [onestack_executable(), "up", "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}"]
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self.startup_seconds = self._wait_ready(started, timeout)
        return self

    def _wait_ready(self, started: float, timeout: float) -> float:
        url = self.base_url + "/identity/v3"
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"onestack up exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.perf_counter() - started > timeout:
                self.stop()
                raise RuntimeError(f"onestack up was not ready within {timeout}s:\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def restart(self, timeout: float = 60.0) -> ServerProcess:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
