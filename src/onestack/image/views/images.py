"""Image documents as glance renders them: custom properties flattened next to the core ones,
relative ``self``/``file``/``schema`` links, second-precision UTC times."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from ..model import Image


def isotime(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def image(row: Image) -> dict:
    body: dict = row.extra()
    body.update({
        "name": row.name, "disk_format": row.disk_format, "container_format": row.container_format,
        "visibility": row.visibility, "size": row.size, "virtual_size": row.virtual_size, "status": row.status,
        "checksum": row.checksum, "protected": row.protected, "min_ram": row.min_ram, "min_disk": row.min_disk,
        "owner": row.owner, "os_hidden": row.os_hidden, "os_hash_algo": row.os_hash_algo,
        "os_hash_value": row.os_hash_value, "id": row.id, "created_at": isotime(row.created_at),
        "updated_at": isotime(row.updated_at), "tags": [t.value for t in row.tags],
        "self": f"/v2/images/{row.id}", "file": f"/v2/images/{row.id}/file", "schema": "/v2/schemas/image",
    })
    if row.store:
        body["stores"] = row.store
    return body


def images(rows: list[Image], params: list[tuple[str, str]], next_marker: str | None) -> dict:
    params = [(k, v) for k, v in params if k != "marker"]
    body = {"images": [image(r) for r in rows], "first": "/v2/images", "schema": "/v2/schemas/images"}
    if params:
        body["first"] = f"/v2/images?{urlencode(params)}"
    if next_marker:
        body["next"] = f"/v2/images?{urlencode([*params, ('marker', next_marker)])}"
    return body
