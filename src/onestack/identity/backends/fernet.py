"""Fernet token format and the key repository, as keystone lays it out.

Keys live in ``<data_dir>/fernet-keys/``: ``0`` is the staged key, the highest number the primary
(it encrypts), everything in between still decrypts.  Rotation promotes the staged key, stages a new
one and drops the oldest beyond ``max_active_keys`` — so several API processes can share the
directory and rotate without invalidating tokens in flight.  The payload records issue time in
milliseconds so a token issued right after a revocation is not caught by it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    scope_kind: str | None  # "project" | "domain" | "system" | None (unscoped)
    scope_id: str | None
    issued_at_ms: int
    expires_at_ms: int
    audit_ids: tuple[str, ...]
    app_cred_id: str | None = None

    def encode(self) -> bytes:
        return json.dumps(
            [1, self.user_id, list(self.methods), self.scope_kind, self.scope_id, self.issued_at_ms,
             self.expires_at_ms, list(self.audit_ids), self.app_cred_id],
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> TokenPayload:
        version, user, methods, kind, scope, issued, expires, audits, app_cred = json.loads(data)
        if version != 1:
            raise ValueError("unknown token payload version")
        return cls(user, tuple(methods), kind, scope, issued, expires, tuple(audits), app_cred)


class InvalidTokenError(Exception):
    pass


class KeyRepository:
    def __init__(self, path: Path, max_active_keys: int = 3) -> None:
        self.path = path
        self.max_active_keys = max(max_active_keys, 2)
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None
        self._mtime = 0
        self.generation = 0  # bumped whenever the set of keys changed (rotation, here or elsewhere)
        self._checked_at = 0.0

    def _indexes(self) -> list[int]:
        return sorted(int(p.name) for p in self.path.iterdir() if p.name.isdigit())

    def _write_key(self, index: int) -> None:
        tmp = self.path / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / str(index))

    def setup(self) -> None:
        """Create the repository with a staged and a primary key unless it exists (idempotent)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        indexes = self._indexes()
        if 0 not in indexes:
            self._write_key(0)
        if not [i for i in indexes if i > 0]:
            self._write_key(1)

    def rotate(self) -> int:
        """Promote the staged key to primary, stage a new key, drop the oldest extras."""
        with self._lock:
            self.setup()
            indexes = self._indexes()
            new_primary = max(indexes) + 1
            os.replace(self.path / "0", self.path / str(new_primary))
            self._write_key(0)
            secondaries = [i for i in self._indexes() if 0 < i < new_primary]
            excess = len(secondaries) + 2 - self.max_active_keys
            for index in secondaries[: max(excess, 0)]:
                (self.path / str(index)).unlink()
            self._fernet = None
            return new_primary

    def current_generation(self, max_age: float = 1.0) -> int:
        """The generation of the key set, looking at the directory at most every ``max_age`` seconds
        (a rotation by another process is noticed within that); the hot path of cached tokens."""
        now = time.monotonic()
        if now - self._checked_at >= max_age:
            self.fernet()
            self._checked_at = now
        return self.generation

    def fernet(self) -> MultiFernet:
        mtime = self.path.stat().st_mtime_ns
        if self._fernet is None or mtime != self._mtime:
            with self._lock:
                indexes = self._indexes()
                if not indexes:
                    raise RuntimeError(f"no fernet keys in {self.path}; run `onestack admin bootstrap`")
                # Primary first (it encrypts), then newest to oldest, the staged key last.
                order = sorted((i for i in indexes if i > 0), reverse=True) + [0]
                keys = [Fernet((self.path / str(i)).read_bytes().strip()) for i in order]
                self._fernet, self._mtime = MultiFernet(keys), mtime
                self.generation += 1
        return self._fernet  # type: ignore[return-value]

    def _keys(self) -> MultiFernet:
        """The key set, the directory looked at no more than once a second (not a stat per token)."""
        if self._fernet is None:
            return self.fernet()
        self.current_generation()
        return self._fernet

    def encrypt(self, payload: TokenPayload) -> str:
        return self._keys().encrypt(payload.encode()).decode().rstrip("=")

    def decrypt(self, token: str) -> TokenPayload:
        padded = token + "=" * (-len(token) % 4)
        keys = self._keys()
        try:
            try:
                return TokenPayload.decode(keys.decrypt(padded.encode()))
            except InvalidToken:
                if self.fernet() is keys:  # the directory did not change: the token is bad
                    raise
                # Encrypted with a key another process rotated in within the last second.
                return TokenPayload.decode(self.fernet().decrypt(padded.encode()))
        except (InvalidToken, ValueError, TypeError):
            raise InvalidTokenError("token is invalid") from None
