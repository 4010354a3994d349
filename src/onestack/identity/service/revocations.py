"""Revocation events: how a stateless Fernet token becomes invalid immediately.

A token is revoked by an event whose every set field matches the token and that was recorded after
the token was issued.  Events older than the longest a token can live are pruned.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from sqlalchemy import delete, select

from onestack.core.db import utcnow
from onestack.core.uow import UnitOfWork

from ..model import RevocationEvent
from .common import changed

MATCH_FIELDS = ("user_id", "project_id", "domain_id", "audit_id", "audit_chain_id", "role_id",
                "application_credential_id")


def revoke(uow: UnitOfWork, **fields) -> None:
    unknown = set(fields) - set(MATCH_FIELDS)
    if unknown:
        raise ValueError(f"unknown revocation fields {unknown}")
    uow.session.add(RevocationEvent(issued_before=utcnow(), **fields))
    changed(uow, "revocation")


@dataclass(frozen=True)
class TokenFacts:
    """What revocation events are matched against."""

    user_id: str
    project_id: str | None
    domain_ids: frozenset[str]  # the user's domain and the scoped project's/domain's
    audit_id: str
    audit_chain_id: str
    role_ids: frozenset[str]
    application_credential_id: str | None
    issued_at: dt.datetime


class RevocationList:
    """The events of the last ``horizon``, held in memory and refreshed on change notices."""

    def __init__(self, horizon_seconds: int) -> None:
        self.horizon = dt.timedelta(seconds=horizon_seconds)
        self._events: list[RevocationEvent] = []
        self._last_id = 0
        self._lock = threading.Lock()

    def refresh(self, uow: UnitOfWork) -> None:
        with self._lock:
            rows = uow.session.scalars(
                select(RevocationEvent).where(RevocationEvent.id > self._last_id).order_by(RevocationEvent.id)
            ).all()
            for row in rows:
                uow.session.expunge(row)
            if rows:
                self._last_id = rows[-1].id
            cutoff = utcnow() - self.horizon
            self._events = [e for e in self._events if e.revoked_at > cutoff] + list(rows)

    def prune(self, uow: UnitOfWork) -> int:
        cutoff = utcnow() - self.horizon
        return uow.session.execute(delete(RevocationEvent).where(RevocationEvent.revoked_at < cutoff)).rowcount

    def is_revoked(self, facts: TokenFacts) -> bool:
        for event in self._events:
            if facts.issued_at > event.issued_before:
                continue
            if event.user_id and event.user_id != facts.user_id:
                continue
            if event.project_id and event.project_id != facts.project_id:
                continue
            if event.domain_id and event.domain_id not in facts.domain_ids:
                continue
            if event.audit_id and event.audit_id != facts.audit_id:
                continue
            if event.audit_chain_id and event.audit_chain_id != facts.audit_chain_id:
                continue
            if event.role_id and event.role_id not in facts.role_ids:
                continue
            if (event.application_credential_id
                    and event.application_credential_id != facts.application_credential_id):
                continue
            return True
        return False
