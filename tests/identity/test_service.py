"""Token service and revocation edge cases, below the HTTP layer."""

import datetime as dt
import time

import pytest

from onestack.core.db import utcnow
from onestack.core.errors import BadRequest, Unauthorized
from onestack.core.testing.client import password_auth
from onestack.identity.backends.fernet import InvalidTokenError, TokenPayload
from onestack.identity.model import RevocationEvent
from onestack.identity.service import revocations
from onestack.identity.service.revocations import RevocationList, TokenFacts
from onestack.identity.service.tokens import TokenService, TokenSettings

NOW = dt.datetime(2030, 1, 1, 12, 0, 0)


def _facts(**kw) -> TokenFacts:
    values = dict(user_id="u1", project_id="p1", domain_ids=frozenset({"default"}), audit_id="a1",
                  audit_chain_id="a0", role_ids=frozenset({"r1", "r2"}), application_credential_id=None,
                  issued_at=NOW)
    return TokenFacts(**{**values, **kw})


def _revoked_by(**event) -> bool:
    rl = RevocationList(3600)
    rl._events = [RevocationEvent(issued_before=event.pop("issued_before", NOW + dt.timedelta(seconds=1)),
                                  revoked_at=NOW, **event)]
    return rl.is_revoked(_facts())


@pytest.mark.parametrize("event,expected", [
    ({"user_id": "u1"}, True),
    ({"user_id": "u2"}, False),
    ({"project_id": "p1"}, True),
    ({"project_id": "p2"}, False),
    ({"domain_id": "default"}, True),
    ({"domain_id": "other"}, False),
    ({"audit_id": "a1"}, True),
    ({"audit_id": "a0"}, False),
    ({"audit_chain_id": "a0"}, True),
    ({"role_id": "r2"}, True),
    ({"role_id": "r9"}, False),
    ({"application_credential_id": "c1"}, False),
    ({"user_id": "u1", "project_id": "p2"}, False),  # every set field must match
    ({"user_id": "u1", "project_id": "p1"}, True),
    ({"user_id": "u1", "issued_before": NOW - dt.timedelta(seconds=1)}, False),  # token issued afterwards
    ({"user_id": "u1", "issued_before": NOW}, True),
])
def test_is_revoked_matches_every_set_field(event, expected):
    assert _revoked_by(**event) is expected


def test_revoke_rejects_unknown_fields(cloud):
    with pytest.raises(ValueError), cloud.uow(write=True) as uow:
        revocations.revoke(uow, username="x")


def test_prune_drops_events_older_than_horizon(cloud):
    with cloud.uow(write=True) as uow:
        uow.session.add(RevocationEvent(user_id="ancient-user", issued_before=utcnow() - dt.timedelta(days=30),
                                        revoked_at=utcnow() - dt.timedelta(days=30)))
    rl = RevocationList(3600)
    with cloud.uow(write=True) as uow:
        assert rl.prune(uow) >= 1
    with cloud.uow() as uow:
        rows = uow.session.query(RevocationEvent).filter(RevocationEvent.user_id == "ancient-user").all()
        assert rows == []


def test_refresh_forgets_events_beyond_horizon_and_reads_new_ones(cloud):
    rl = RevocationList(3600)
    with cloud.uow() as uow:
        rl.refresh(uow)
    with cloud.uow(write=True) as uow:
        revocations.revoke(uow, user_id="refresh-user")
    with cloud.uow() as uow:
        rl.refresh(uow)
    assert rl.is_revoked(_facts(user_id="refresh-user", issued_at=utcnow() - dt.timedelta(seconds=5)))


@pytest.fixture
def tokens(cloud):
    return cloud.identity.tokens


def test_issue_token_after_user_revocation_is_valid(tokens, cloud, passwords):
    token, info = tokens.issue(password_auth("demo", passwords["demo"], "demo")["auth"])
    with cloud.uow(write=True) as uow:
        revocations.revoke(uow, user_id=info.user["id"])
    with pytest.raises(InvalidTokenError):
        tokens.validate(token)
    time.sleep(0.002)  # token issue times have millisecond resolution
    fresh, _ = tokens.issue(password_auth("demo", passwords["demo"], "demo")["auth"])
    assert tokens.validate(fresh).user["id"] == info.user["id"]


def test_validate_cached_token_sees_revocation_committed_elsewhere(tokens, cloud, passwords):
    token, info = tokens.issue(password_auth("demo", passwords["demo"], "demo")["auth"])
    tokens.validate(token)  # now cached
    with cloud.uow(write=True) as uow:  # any committed change notice drops the cache
        revocations.revoke(uow, audit_id=info.payload.audit_ids[0])
    with pytest.raises(InvalidTokenError):
        tokens.validate(token)


def test_validate_tampered_token_is_invalid(tokens, passwords):
    token, _ = tokens.issue(password_auth("demo", passwords["demo"], "demo")["auth"])
    tampered = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    with pytest.raises(InvalidTokenError):
        tokens.validate(tampered)


def test_validate_payload_for_unknown_user_is_invalid(tokens, cloud):
    now = int(time.time() * 1000)
    token = cloud.identity.keys.encrypt(TokenPayload("no-such-user", ("password",), None, None, now,
                                                     now + 60_000, ("x",)))
    with pytest.raises(InvalidTokenError):
        tokens.validate(token)


def test_validate_payload_with_unknown_scope_kind_is_invalid(tokens, cloud, passwords):
    _token, info = tokens.issue(password_auth("demo", passwords["demo"], "demo")["auth"])
    now = int(time.time() * 1000)
    token = cloud.identity.keys.encrypt(TokenPayload(info.user["id"], ("password",), "galaxy", "x", now,
                                                     now + 60_000, ("x",)))
    with pytest.raises(InvalidTokenError):
        tokens.validate(token)


def test_issue_with_malformed_auth_is_400(tokens):
    with pytest.raises(BadRequest):
        tokens.issue({"identity": {"methods": ["password"], "password": {"user": {"name": "demo"}}}})
    with pytest.raises(BadRequest):
        tokens.issue({"identity": {"methods": []}})


def test_issue_with_bad_password_is_401(tokens):
    with pytest.raises(Unauthorized):
        tokens.issue(password_auth("demo", "wrong")["auth"])


def test_token_cache_is_bounded(cloud, passwords):
    small = TokenService(cloud.uow, cloud.identity.keys, TokenSettings(cache_size=2), cloud.identity.password_policy)
    issued = [small.issue(password_auth("demo", passwords["demo"], "demo")["auth"])[0] for _ in range(4)]
    for token in issued:
        small.validate(token)
    assert len(small._cache) == 2
    for token in issued:  # evicted tokens still validate (uncached)
        assert small.validate(token).project["name"] == "demo"
