"""The Fernet key repository: staged/primary/secondary keys, rotation keeping recent tokens valid."""

import os
import stat
import time

import pytest

from onestack.core.testing.client import login, make_settings
from onestack.identity.backends.fernet import InvalidTokenError, KeyRepository, TokenPayload
from onestack.testing import running_cloud


def _payload(user: str = "u1") -> TokenPayload:
    now = int(time.time() * 1000)
    return TokenPayload(user, ("password",), "project", "p1", now, now + 3600_000, ("audit",))


@pytest.fixture
def keys(tmp_path):
    repo = KeyRepository(tmp_path / "fernet-keys", max_active_keys=3)
    repo.setup()
    return repo


def test_setup_creates_staged_and_primary_keys_private(keys):
    assert sorted(p.name for p in keys.path.iterdir()) == ["0", "1"]
    for key in keys.path.iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o700


def test_setup_is_idempotent(keys):
    before = {p.name: p.read_bytes() for p in keys.path.iterdir()}
    keys.setup()
    assert {p.name: p.read_bytes() for p in keys.path.iterdir()} == before


def test_encrypt_decrypt_roundtrip(keys):
    payload = _payload()
    token = keys.encrypt(payload)
    assert "=" not in token
    assert keys.decrypt(token) == payload


def test_decrypt_garbage_is_invalid(keys):
    for token in ("", "garbage", "gAAAAA" + "A" * 100):
        with pytest.raises(InvalidTokenError):
            keys.decrypt(token)


def test_decrypt_with_other_repository_is_invalid(keys, tmp_path):
    other = KeyRepository(tmp_path / "other", 3)
    other.setup()
    with pytest.raises(InvalidTokenError):
        keys.decrypt(other.encrypt(_payload()))


def test_rotate_promotes_staged_key(keys):
    staged = (keys.path / "0").read_bytes()
    assert keys.rotate() == 2
    assert (keys.path / "2").read_bytes() == staged
    assert (keys.path / "0").read_bytes() != staged
    assert sorted(int(p.name) for p in keys.path.iterdir()) == [0, 1, 2]


def test_rotate_keeps_old_tokens_valid_until_their_key_is_dropped(keys):
    old = keys.encrypt(_payload("old"))
    keys.rotate()  # keys: 0 (staged), 2 (primary), 1 (secondary)
    assert keys.decrypt(old).user_id == "old"
    newer = keys.encrypt(_payload("newer"))
    keys.rotate()  # keys: 0, 3, 2 -- key 1 dropped (max_active_keys = 3)
    assert sorted(int(p.name) for p in keys.path.iterdir()) == [0, 2, 3]
    assert keys.decrypt(newer).user_id == "newer"
    with pytest.raises(InvalidTokenError):
        keys.decrypt(old)


def test_rotate_respects_max_active_keys(tmp_path):
    repo = KeyRepository(tmp_path / "k", max_active_keys=5)
    repo.setup()
    for _ in range(6):
        repo.rotate()
    assert len(list(repo.path.iterdir())) == 5


def test_tokens_of_a_process_that_rotated_first_are_accepted(tmp_path):
    """Two API processes share the key directory; the staged key decrypts before it becomes primary."""
    first = KeyRepository(tmp_path / "shared", 3)
    first.setup()
    second = KeyRepository(tmp_path / "shared", 3)
    assert second.decrypt(first.encrypt(_payload())).user_id == "u1"
    first.rotate()
    token = first.encrypt(_payload("after-rotation"))
    assert second.decrypt(token).user_id == "after-rotation"


def test_other_process_rotation_is_seen_without_restart(tmp_path):
    first = KeyRepository(tmp_path / "shared", 3)
    first.setup()
    second = KeyRepository(tmp_path / "shared", 3)
    old = second.encrypt(_payload("old"))
    first.rotate()
    first.rotate()
    with pytest.raises(InvalidTokenError):
        second.decrypt(old)
    # second now encrypts with the new primary: the first process can read it.
    assert first.decrypt(second.encrypt(_payload("x"))).user_id == "x"
    assert os.path.exists(first.path / "3")


def test_rotation_keeps_issued_token_valid_through_the_api(tmp_path):
    settings = make_settings(str(tmp_path / "data"), identity={"max_active_keys": 3})
    with running_cloud(settings) as (cloud, http, passwords):
        admin = login(http, "admin", passwords["admin"], "admin")
        demo = login(http, "demo", passwords["demo"], "demo")

        def valid(token: str) -> bool:
            return admin.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).status_code == 200

        cloud.identity.keys.rotate()
        admin = login(http, "admin", passwords["admin"], "admin")  # issued with the new primary key
        assert valid(demo.token)
        cloud.identity.keys.rotate()
        admin = login(http, "admin", passwords["admin"], "admin")
        # demo's key was dropped by the second rotation: its token is gone, even though it was cached.
        assert not valid(demo.token)
        assert http.get("/identity/v3/auth/projects", headers={"X-Auth-Token": demo.token}).status_code == 401
        assert valid(login(http, "demo", passwords["demo"], "demo").token)
