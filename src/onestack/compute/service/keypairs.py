"""Key pairs: imported or generated SSH keys (and x509 certificates), owned by a user."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from onestack.core.errors import BadRequest, Conflict, NotFound
from onestack.core.uow import UnitOfWork

from ..model import KeyPair
from . import quotas
from .common import flush_unique


@dataclass(frozen=True)
class CreateKeyPair:
    name: str
    user_id: str
    project_id: str
    public_key: str | None = None
    type: str = "ssh"


def _colons(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def ssh_fingerprint(public_key: str) -> str:
    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.strip().split()[1])
    except (ValueError, IndexError, TypeError, UnicodeEncodeError):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colons(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(cert: str) -> str:
    try:
        loaded = x509.load_pem_x509_certificate(cert.encode())
    except (ValueError, TypeError, UnicodeEncodeError):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colons(loaded.fingerprint(hashes.SHA1()))


def generate() -> tuple[str, str]:
    """(private key PEM, public key in OpenSSH format), as Nova generated before 2.92."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public + " Generated-by-Nova"


def generate_x509(user_id: str) -> tuple[str, str]:
    """(private key PEM, self-signed client certificate PEM for ``user_id``), as Nova's x509 key pairs
    (WinRM certificate authentication): ten years, clientAuth."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id or "nova")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return private, cert.public_bytes(serialization.Encoding.PEM).decode()


def create_keypair(uow: UnitOfWork, cmd: CreateKeyPair, limits: quotas.Limits) -> tuple[KeyPair, str | None]:
    private = None
    public = cmd.public_key
    if public is None:
        private, public = generate_x509(cmd.user_id) if cmd.type == "x509" else generate()
    fingerprint = x509_fingerprint(public) if cmd.type == "x509" else ssh_fingerprint(public)
    quotas.check_key_pairs(uow, limits, cmd.project_id, cmd.user_id)
    if find_keypair(uow, cmd.user_id, cmd.name) is not None:
        raise _exists(cmd.name)
    row = KeyPair(name=cmd.name, user_id=cmd.user_id, fingerprint=fingerprint, public_key=public, type=cmd.type)
    uow.session.add(row)
    flush_unique(uow, f"Key pair '{cmd.name}' already exists.")
    return row, private


def _exists(name: str) -> Conflict:
    return Conflict(f"Key pair '{name}' already exists.")


def find_keypair(uow: UnitOfWork, user_id: str, name: str) -> KeyPair | None:
    return uow.session.scalars(select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name)).first()


def get_keypair(uow: UnitOfWork, user_id: str, name: str) -> KeyPair:
    row = find_keypair(uow, user_id, name)
    if row is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return row


def list_keypairs(uow: UnitOfWork, user_id: str) -> list[KeyPair]:
    return list(uow.session.scalars(select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)))


def delete_keypair(uow: UnitOfWork, user_id: str, name: str) -> None:
    uow.session.delete(get_keypair(uow, user_id, name))
