"""The metadata service guests read (Nova's metadata API), behind the network's metadata proxy.

The proxy in the router namespace identifies the guest by its fixed IP and forwards to
``<base_url>/metadata/...`` with ``X-Instance-ID``, ``X-Tenant-ID`` and ``X-Instance-ID-Signature``
(HMAC-SHA256 of the instance id with the shared metadata secret), as Neutron's does; requests without
a valid signature are refused.  Serves the OpenStack tree (``/openstack/latest/meta_data.json``,
``user_data``, ``network_data.json``, ``vendor_data.json``, ``vendor_data2.json``) and the EC2-style
``/latest/meta-data/`` tree cloud-init reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy import select
from starlette.responses import Response

from onestack.core.errors import Forbidden, NotFound
from onestack.core.http import ApiRequest, json_response

from ..model import BlockDeviceMapping, Instance
from ..service import interfaces as iface_svc

VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06", "2017-02-22",
            "2018-08-27", "2020-10-14", "latest")
EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
                "2008-09-01", "2009-04-04", "latest")


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/plain")


def metadata_secret(settings) -> str:
    network = getattr(settings, "network", None)
    configured = getattr(network, "metadata_secret", "") if network is not None else ""
    if configured:
        return configured
    path = settings.data_path / "metadata-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _instance(req: ApiRequest) -> dict:
    instance_id = req.headers.get("x-instance-id", "")
    signature = req.headers.get("x-instance-id-signature", "")
    secret = metadata_secret(req.deps.settings)
    expected = hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest() if secret else ""
    if not instance_id or not secret or not hmac.compare_digest(expected, signature):
        raise Forbidden("Invalid proxy request signature.")
    with req.deps.uow() as uow:
        row = uow.session.get(Instance, instance_id)
        if row is None or row.deleted:
            raise NotFound("Instance not found.")
        if req.headers.get("x-tenant-id") and req.headers["x-tenant-id"] != row.project_id:
            raise Forbidden("Tenant mismatch.")
        return {"uuid": row.id, "name": row.name, "hostname": row.hostname, "project_id": row.project_id,
                "availability_zone": row.availability_zone or "", "launch_index": row.launch_index,
                "meta": dict(row.metadata_ or {}), "key_name": row.key_name, "key_data": row.key_data,
                "user_data": row.user_data}


def _ports(req: ApiRequest, server_id: str) -> list[dict]:
    network = req.deps.network
    return network.ports_for_server(server_id) if network is not None else []


def devices(req: ApiRequest, server_id: str) -> list[dict]:
    """The server's tagged devices (device role tagging, as the config drive lists them): its ports attached
    with a tag (by MAC), its volumes attached with a tag (by serial, the volume id, and path)."""
    with req.deps.uow() as uow:
        nic_tags = {p: t for p, t in iface_svc.tags(uow, server_id).items() if t}
        disks = [(b.volume_id, b.device_name, b.tag) for b in uow.session.scalars(
            select(BlockDeviceMapping).where(BlockDeviceMapping.instance_id == server_id,
                                             BlockDeviceMapping.status == "attached",
                                             BlockDeviceMapping.tag.is_not(None)).order_by(BlockDeviceMapping.id))]
    out: list[dict] = []
    if nic_tags:
        out += [{"type": "nic", "mac": p.get("mac_address"), "tags": [nic_tags[p["id"]]]}
                for p in _ports(req, server_id) if p["id"] in nic_tags]
    out += [{"type": "disk", "bus": "virtio", "serial": volume_id, "path": device, "tags": [tag]}
            for volume_id, device, tag in disks]
    return out


def meta_data(info: dict, devices: list[dict] | None = None) -> dict:
    body = {"uuid": info["uuid"], "name": info["name"], "hostname": info["hostname"],
            "launch_index": info["launch_index"], "availability_zone": info["availability_zone"],
            "project_id": info["project_id"], "meta": info["meta"], "devices": devices or [],
            "random_seed": base64.b64encode(os.urandom(512)).decode()}
    if info["key_name"]:
        body["public_keys"] = {info["key_name"]: info["key_data"]}
        body["keys"] = [{"name": info["key_name"], "type": "ssh", "data": info["key_data"]}]
    return body


def network_data(ports: list[dict]) -> dict:
    links, networks = [], []
    for i, port in enumerate(ports):
        link = f"tap{port['id'][:11]}"
        links.append({"id": link, "vif_id": port["id"], "type": "bridge", "mtu": port.get("mtu") or 1500,
                      "ethernet_mac_address": port.get("mac_address")})
        for j, ip in enumerate(port.get("fixed_ips", ())):
            v6 = ":" in ip["ip_address"]
            networks.append({"id": f"network{i}-{j}", "type": "ipv6_dhcp" if v6 else "ipv4_dhcp", "link": link,
                             "network_id": port.get("network_id")})
    return {"links": links, "networks": networks, "services": []}


def list_root(req: ApiRequest):
    return _text("\n".join((*EC2_VERSIONS, "openstack")))


def list_openstack_versions(req: ApiRequest):
    return _text("\n".join(VERSIONS))


def openstack_item(req: ApiRequest):
    version, item = req.params["version"], req.params["item"]
    if version not in VERSIONS:
        raise NotFound("Unknown metadata version.")
    info = _instance(req)
    if item == "meta_data.json":
        return json_response(meta_data(info, devices(req, info["uuid"])))
    if item == "user_data":
        if not info["user_data"]:
            raise NotFound("No user data.")
        return Response(base64.b64decode(info["user_data"]), media_type="application/octet-stream")
    if item == "network_data.json":
        return json_response(network_data(_ports(req, info["uuid"])))
    if item in ("vendor_data.json", "vendor_data2.json"):
        return json_response({})
    raise NotFound("Unknown metadata item.")


def openstack_listing(req: ApiRequest):
    if req.params["version"] not in VERSIONS:
        raise NotFound("Unknown metadata version.")
    _instance(req)
    return _text("meta_data.json\nnetwork_data.json\nuser_data\nvendor_data.json\nvendor_data2.json")


def _ec2(info: dict, ports: list[dict]) -> dict:
    ipv4 = next((ip["ip_address"] for p in ports for ip in p.get("fixed_ips", ()) if ":" not in ip["ip_address"]),
                "")
    floating = next((f for p in ports for f in p.get("floating_ips", ())), "")
    tree = {"ami-id": "ami-00000001", "ami-launch-index": str(info["launch_index"]),
            "hostname": info["hostname"], "instance-id": "i-" + info["uuid"][:8], "instance-type": "",
            "local-hostname": info["hostname"], "local-ipv4": ipv4, "public-hostname": info["hostname"],
            "public-ipv4": floating, "placement/availability-zone": info["availability_zone"],
            "reservation-id": "", "security-groups": "default"}
    if info["key_name"]:
        tree["public-keys/"] = f"0={info['key_name']}"
        tree["public-keys/0/openssh-key"] = info["key_data"] or ""
    return tree


def ec2_metadata(req: ApiRequest):
    info = _instance(req)
    tree = _ec2(info, _ports(req, info["uuid"]))
    path = "/".join(req.params[k] for k in ("path", "sub", "leaf") if req.params.get(k)).strip("/")
    if not path:
        tops = sorted({k.split("/")[0] + ("/" if "/" in k else "") for k in tree})
        return _text("\n".join(tops))
    if path in tree:
        return _text(tree[path])
    if path + "/" in tree:
        return _text(tree[path + "/"])
    children = sorted({k[len(path) + 1:].split("/")[0] for k in tree if k.startswith(path + "/")})
    if children:
        return _text("\n".join(children))
    raise NotFound("Unknown metadata item.")


def ec2_user_data(req: ApiRequest):
    info = _instance(req)
    if not info["user_data"]:
        raise NotFound("No user data.")
    return Response(base64.b64decode(info["user_data"]), media_type="application/octet-stream")
