"""Image documents of the compute API's image proxy (Nova's images view, up to 2.35)."""

from __future__ import annotations

from .common import V21

# Glance's core fields: everything else in a Glance document is a custom property (``metadata``).
CORE = frozenset({"id", "name", "status", "visibility", "disk_format", "container_format", "size", "virtual_size",
                  "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden", "os_hash_algo",
                  "os_hash_value", "created_at", "updated_at", "tags", "self", "file", "schema", "stores",
                  "locations", "direct_url"})
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "uploading": "SAVING",
          "importing": "SAVING", "deleted": "DELETED", "pending_delete": "DELETED", "killed": "ERROR"}
PROGRESS = {"queued": 25, "saving": 50, "uploading": 50, "importing": 50, "active": 100}


def metadata(image: dict) -> dict:
    return {k: v for k, v in image.items() if k not in CORE}


def links(base: str, image_id: str) -> list[dict]:
    return [{"rel": "self", "href": f"{base}{V21}/images/{image_id}"},
            {"rel": "bookmark", "href": f"{base}/compute/images/{image_id}"},
            {"rel": "alternate", "type": "application/vnd.openstack.image", "href": f"{base}/image/images/{image_id}"}]


def summary(image: dict, base: str) -> dict:
    return {"id": image["id"], "name": image.get("name"), "links": links(base, image["id"])}


def detail(image: dict, base: str) -> dict:
    status = image.get("status") or ""
    body = {**summary(image, base), "created": image.get("created_at"), "updated": image.get("updated_at"),
            "status": STATUS.get(status, "UNKNOWN"), "progress": PROGRESS.get(status, 0),
            "minDisk": image.get("min_disk") or 0, "minRam": image.get("min_ram") or 0,
            "metadata": metadata(image), "OS-EXT-IMG-SIZE:size": image.get("size")}
    server = image.get("instance_uuid")
    if server:
        body["server"] = {"id": server, "links": [
            {"rel": "self", "href": f"{base}{V21}/servers/{server}"},
            {"rel": "bookmark", "href": f"{base}/compute/servers/{server}"}]}
    return body
