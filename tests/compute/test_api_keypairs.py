from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.compute.conftest import C, mv


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_create_keypair_import_public_key(demo, uniq):
    name = uniq("kp")
    resp = demo.post(f"{C}/os-keypairs", json={"keypair": {"name": name, "public_key": _public_key()}},
                     headers=mv("2.92"))
    assert resp.status_code == 201, resp.text
    body = resp.json()["keypair"]
    assert body["type"] == "ssh" and "private_key" not in body and body["fingerprint"].count(":") == 15
    shown = demo.get(f"{C}/os-keypairs/{name}", headers=mv("2.92")).json()["keypair"]
    assert shown["user_id"] == demo.user_id and shown["fingerprint"] == body["fingerprint"]
    listed = demo.get(f"{C}/os-keypairs", headers=mv("2.92")).json()["keypairs"]
    assert name in {k["keypair"]["name"] for k in listed}
    assert demo.delete(f"{C}/os-keypairs/{name}", headers=mv("2.92")).status_code == 204
    assert demo.get(f"{C}/os-keypairs/{name}").status_code == 404


def test_create_keypair_generated_before_2_92_returns_private_key(demo, uniq):
    name = uniq("kp")
    resp = demo.post(f"{C}/os-keypairs", json={"keypair": {"name": name}}, headers=mv("2.1"))
    assert resp.status_code == 200
    body = resp.json()["keypair"]
    assert body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert body["public_key"].startswith("ssh-rsa ")
    assert demo.delete(f"{C}/os-keypairs/{name}").status_code == 202


def test_create_keypair_without_public_key_at_2_92_is_400(demo, uniq):
    resp = demo.post(f"{C}/os-keypairs", json={"keypair": {"name": uniq("kp")}}, headers=mv("2.92"))
    assert resp.status_code == 400


def test_create_keypair_duplicate_is_409(demo, uniq):
    body = {"keypair": {"name": uniq("kp"), "public_key": _public_key()}}
    assert demo.post(f"{C}/os-keypairs", json=body).status_code == 200
    resp = demo.post(f"{C}/os-keypairs", json=body)
    assert resp.status_code == 409 and "already exists" in resp.json()["conflictingRequest"]["message"]


def test_create_keypair_invalid_key_is_400(demo, uniq):
    resp = demo.post(f"{C}/os-keypairs", json={"keypair": {"name": uniq("kp"), "public_key": "ssh-rsa nope"}})
    assert resp.status_code == 400


def test_create_keypair_invalid_name_is_400(demo):
    resp = demo.post(f"{C}/os-keypairs", json={"keypair": {"name": "bad/name", "public_key": _public_key()}})
    assert resp.status_code == 400


def test_show_keypair_of_other_user_is_403_for_member(admin, demo, uniq):
    resp = demo.get(f"{C}/os-keypairs/x?user_id={admin.user_id}", headers=mv("2.10"))
    assert resp.status_code == 403


def test_create_keypair_x509_generated_before_2_92(demo, uniq):
    name = uniq("kp")
    resp = demo.post(f"{C}/os-keypairs", json={"keypair": {"name": name, "type": "x509"}}, headers=mv("2.2"))
    assert resp.status_code == 201, resp.text
    body = resp.json()["keypair"]
    assert body["type"] == "x509" and "PRIVATE KEY" in body["private_key"]
    cert = x509.load_pem_x509_certificate(body["public_key"].encode())
    assert body["fingerprint"] == ":".join(f"{b:02x}" for b in cert.fingerprint(hashes.SHA1()))
    assert demo.delete(f"{C}/os-keypairs/{name}").status_code in (202, 204)
