"""The metadata service behind the network's metadata proxy (signed X-Instance-ID)."""

import base64
import hashlib
import hmac

from tests.compute.conftest import boot


def _secret(cloud) -> str:
    path = cloud.settings.data_path / "metadata-secret"
    if not path.exists():
        path.write_text("test-secret")
    return path.read_text().strip()


def _headers(cloud, server: dict) -> dict:
    sig = hmac.new(_secret(cloud).encode(), server["id"].encode(), hashlib.sha256).hexdigest()
    return {"X-Instance-ID": server["id"], "X-Tenant-ID": server["tenant_id"], "X-Instance-ID-Signature": sig}


def test_show_meta_data_json_with_keys_and_user_data(cloud, http, demo, servers, uniq):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pub = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    key = uniq("mdk")
    demo.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": key, "public_key": pub}})
    server = boot(demo, uniq("md"), key_name=key, metadata={"role": "web"},
                  user_data=base64.b64encode(b"#cloud-config\n").decode())
    servers.append(server["id"])
    headers = _headers(cloud, server)
    meta = http.get("/metadata/openstack/latest/meta_data.json", headers=headers)
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["uuid"] == server["id"] and body["meta"] == {"role": "web"} and body["public_keys"][key] == pub
    assert http.get("/metadata/openstack/latest/user_data", headers=headers).content == b"#cloud-config\n"
    assert http.get("/metadata/openstack/latest/network_data.json", headers=headers).json()["links"] == []
    assert "meta_data.json" in http.get("/metadata/openstack/latest", headers=headers).text
    assert http.get("/metadata/latest/meta-data/public-keys/0/openssh-key", headers=headers).text == pub
    assert "instance-id" in http.get("/metadata/latest/meta-data", headers=headers).text.split("\n")
    assert "latest" in http.get("/metadata/openstack").text
    demo.delete(f"/compute/v2.1/os-keypairs/{key}")


def test_show_meta_data_bad_signature_is_403(cloud, http, demo, servers, uniq):
    server = boot(demo, uniq("md"))
    servers.append(server["id"])
    headers = {**_headers(cloud, server), "X-Instance-ID-Signature": "0" * 64}
    assert http.get("/metadata/openstack/latest/meta_data.json", headers=headers).status_code == 403
