"""Key pair documents, shaped per microversion."""

from __future__ import annotations

from onestack.core.microversion import Version

from ..model import KeyPair
from .common import isotime_us


def keypair_summary(row: KeyPair, v: Version) -> dict:
    body = {"name": row.name, "public_key": row.public_key, "fingerprint": row.fingerprint}
    if v.matches("2.2"):
        body["type"] = row.type
    return {"keypair": body}


def keypair_created(row: KeyPair, v: Version, private_key: str | None) -> dict:
    body = {"name": row.name, "public_key": row.public_key, "fingerprint": row.fingerprint, "user_id": row.user_id}
    if private_key is not None:
        body["private_key"] = private_key
    if v.matches("2.2"):
        body["type"] = row.type
    return body


def keypair_detail(row: KeyPair, v: Version) -> dict:
    body = {"name": row.name, "public_key": row.public_key, "fingerprint": row.fingerprint,
            "user_id": row.user_id, "id": row.id, "created_at": isotime_us(row.created_at), "deleted": False,
            "deleted_at": None, "updated_at": None}
    if v.matches("2.2"):
        body["type"] = row.type
    return body
