"""Security compliance: lockout after N failed attempts (off by default) and password expiry.

These need their own cloud: lockout and expiry are settings, and the shared cloud keeps the defaults.
"""

import datetime as dt

import pytest

from onestack.core.testing.client import login, make_settings, password_auth
from onestack.identity.model import User
from onestack.testing import running_cloud

from .conftest import V3, Factory

TOKENS = f"{V3}/auth/tokens"


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory):
    settings = make_settings(str(tmp_path_factory.mktemp("strict")), identity={
        "lockout_failure_attempts": 3, "lockout_duration": 600, "password_expires_days": 2})
    with running_cloud(settings) as env:
        yield env


@pytest.fixture
def strict(strict_cloud):
    cloud, http, passwords = strict_cloud
    factory = Factory(login(http, "admin", passwords["admin"], "admin"))
    yield cloud, http, factory
    factory.cleanup()


def _auth(http, user: dict, password: str | None = None):
    return http.post(TOKENS, json=password_auth(user["name"], password or user["password"]))


def test_authenticate_many_failures_without_lockout_configured(make, http):
    user = make.user()
    for _ in range(6):
        assert _auth(http, user, "wrong").status_code == 401
    assert _auth(http, user).status_code == 201


def test_lockout_after_failed_attempts(strict):
    _cloud, http, make = strict
    user, bystander = make.user(), make.user()
    for _ in range(3):
        assert _auth(http, user, "wrong").status_code == 401
    resp = _auth(http, user)
    assert resp.status_code == 401  # the right password no longer helps
    assert resp.json()["error"]["code"] == 401
    assert _auth(http, bystander).status_code == 201


def test_lockout_counter_resets_on_success(strict):
    _cloud, http, make = strict
    user = make.user()
    for _ in range(2):
        assert _auth(http, user, "wrong").status_code == 401
    assert _auth(http, user).status_code == 201
    for _ in range(2):
        assert _auth(http, user, "wrong").status_code == 401
    assert _auth(http, user).status_code == 201


def test_lockout_ends_after_lockout_duration(strict):
    cloud, http, make = strict
    user = make.user()
    for _ in range(3):
        _auth(http, user, "wrong")
    assert _auth(http, user).status_code == 401
    with cloud.uow(write=True) as uow:
        row = uow.session.get(User, user["id"])
        row.failed_auth_at = row.failed_auth_at - dt.timedelta(seconds=601)
    assert _auth(http, user).status_code == 201


def test_lockout_ended_by_admin_password_reset(strict):
    _cloud, http, make = strict
    user = make.user()
    for _ in range(3):
        _auth(http, user, "wrong")
    make.admin.patch(f"{V3}/users/{user['id']}", json={"user": {"password": "reset-by-admin"}})
    assert _auth(http, user, "reset-by-admin").status_code == 201


def test_lockout_ignored_for_user_with_option(strict):
    _cloud, http, make = strict
    user = make.user(options={"ignore_lockout_failure_attempts": True})
    for _ in range(5):
        _auth(http, user, "wrong")
    assert _auth(http, user).status_code == 201


def test_password_expiry_is_set_and_shown(strict):
    _cloud, http, make = strict
    user = make.user()
    expires = dt.datetime.fromisoformat(user["password_expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(days=1, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=2)
    token = _auth(http, user).json()["token"]
    assert token["user"]["password_expires_at"] == user["password_expires_at"]


def test_password_expiry_not_set_with_ignore_option(strict):
    _cloud, _http, make = strict
    assert make.user(options={"ignore_password_expiry": True})["password_expires_at"] is None


def test_expired_password_is_refused_until_changed(strict):
    cloud, http, make = strict
    user = make.user()
    with cloud.uow(write=True) as uow:
        uow.session.get(User, user["id"]).password_expires_at = dt.datetime(2001, 1, 1)
    assert _auth(http, user).status_code == 401
    # The self-service change needs no token: it is how a user with an expired password gets back in.
    body = {"user": {"original_password": user["password"], "password": "fresh-password"}}
    assert http.post(f"{V3}/users/{user['id']}/password", json=body).status_code == 204
    assert _auth(http, user, "fresh-password").status_code == 201


def test_change_password_counts_towards_lockout(strict):
    """The public password-change API must not be a way around the lockout."""
    _cloud, http, make = strict
    user = make.user()
    for _ in range(3):
        body = {"user": {"original_password": "guess", "password": "attacker-pw"}}
        assert http.post(f"{V3}/users/{user['id']}/password", json=body).status_code == 401
    body = {"user": {"original_password": user["password"], "password": "attacker-pw"}}
    assert http.post(f"{V3}/users/{user['id']}/password", json=body).status_code == 401  # locked now
    assert _auth(http, user).status_code == 401


def test_change_password_of_disabled_user_is_401(strict):
    _cloud, http, make = strict
    user = make.user(enabled=False)
    body = {"user": {"original_password": user["password"], "password": "new-password-1"}}
    assert http.post(f"{V3}/users/{user['id']}/password", json=body).status_code == 401


def test_lockout_counts_every_concurrent_failed_attempt(tmp_path):
    """Failed logins racing each other are all counted: the counter is incremented in SQL."""
    from concurrent.futures import ThreadPoolExecutor

    from onestack.core.errors import Unauthorized

    settings = make_settings(str(tmp_path), identity={"lockout_failure_attempts": 100, "lockout_duration": 600})
    with running_cloud(settings) as (cloud, http, passwords):
        factory = Factory(login(http, "admin", passwords["admin"], "admin"))
        user = factory.user()

        def fail(_):
            with pytest.raises(Unauthorized):
                cloud.identity.tokens.issue(password_auth(user["name"], "wrong")["auth"])

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fail, range(16)))
        with cloud.uow() as uow:
            assert uow.session.get(User, user["id"]).failed_auth_count == 16
        assert _auth(http, user).status_code == 201  # below the threshold: the right password works
        with cloud.uow() as uow:
            assert uow.session.get(User, user["id"]).failed_auth_count == 0
