"""The image proxy: Glance images through the compute API (deprecated upstream, still served up to
microversion 2.35; 404 from 2.36 on, as Nova)."""

from __future__ import annotations

from urllib.parse import urlencode

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas import servers as schemas
from ..service import quotas
from ..views import images as views
from ..views.common import V21
from .common import body_of, paginate, parse_int, parse_time

# query parameter -> image document key, compared as strings
_FILTERS = {"name": "name", "server": "instance_uuid", "type": "image_type"}


def _client(req: ApiRequest):
    if req.version.matches("2.36"):
        raise NotFound("The resource could not be found.")
    if req.deps.image is None:
        raise NotFound("The image service is not available in this cloud.")
    return req.deps.image


def _image(req: ApiRequest) -> dict:
    image = _client(req).get_image(req.ctx, req.params["image_id"])
    if image is None or image.get("status") in ("deleted", "pending_delete"):
        raise NotFound("Image not found.")
    return image


def _list(req: ApiRequest, detail: bool):
    client = _client(req)
    q = req.query
    images = [i for i in client.find_images(None, req.ctx) if not i.get("os_hidden")]
    for param, key in _FILTERS.items():
        if q.get(param):
            wanted = q[param].rstrip("/").rsplit("/", 1)[-1] if param == "server" else q[param]
            images = [i for i in images if str(i.get(key) or "") == wanted]
    if q.get("status"):
        images = [i for i in images if views.STATUS.get(i.get("status") or "", "UNKNOWN") == q["status"].upper()]
    for param, key in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        low = parse_int(param, q.get(param), 0)
        if low is not None:
            images = [i for i in images if (i.get(key) or 0) >= low]
    if "changes-since" in q:
        since = parse_time("changes-since", q["changes-since"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        images = [i for i in images if (i.get("updated_at") or "") >= since]
    chosen, limit = paginate(req, images, key=lambda i: i["id"])
    render = views.detail if detail else views.summary
    body: dict = {"images": [render(i, req.base_url) for i in chosen]}
    if limit is not None and len(chosen) == limit and chosen:
        params = {k: v for k, v in q.multi_items() if k != "marker"}
        params["marker"] = chosen[-1]["id"]
        path = "images/detail" if detail else "images"
        body["images_links"] = [{"rel": "next", "href": f"{req.base_url}{V21}/{path}?{urlencode(params)}"}]
    return json_response(body)


def list_images(req: ApiRequest):
    return _list(req, False)


def list_images_detail(req: ApiRequest):
    return _list(req, True)


def show_image(req: ApiRequest):
    return json_response({"image": views.detail(_image(req), req.base_url)})


def delete_image(req: ApiRequest):
    _image(req)
    _client(req).delete_image(req.ctx, req.params["image_id"])
    return empty_response(204)


# -- image metadata (the image's custom properties) ---------------------------------------------------


def list_metadata(req: ApiRequest):
    return json_response({"metadata": views.metadata(_image(req))})


def show_metadata(req: ApiRequest):
    meta = views.metadata(_image(req))
    key = req.params["key"]
    if key not in meta:
        raise NotFound("Image metadata item not found.")
    return json_response({"meta": {key: meta[key]}})


def _set(req: ApiRequest, items: dict, replace: bool) -> dict:
    current = views.metadata(_image(req))
    merged = dict(items) if replace else {**current, **items}
    quotas.check_metadata(req.deps.limit, req.ctx.project_id or "", merged)
    image = _client(req).set_image_properties(req.ctx, req.params["image_id"], {k: str(v) for k, v in items.items()},
                                              replace=replace)
    return views.metadata(image)


def update_metadata(req: ApiRequest):
    return json_response({"metadata": _set(req, body_of(req, schemas.METADATA, "metadata"), False)})


def replace_metadata(req: ApiRequest):
    return json_response({"metadata": _set(req, body_of(req, schemas.METADATA, "metadata"), True)})


def update_metadata_item(req: ApiRequest):
    meta = body_of(req, schemas.METADATA_ITEM, "meta")
    key = req.params["key"]
    if key not in meta:
        raise BadRequest("Request body and URI mismatch")
    _set(req, meta, False)
    return json_response({"meta": meta})


def delete_metadata_item(req: ApiRequest):
    key = req.params["key"]
    if key not in views.metadata(_image(req)):
        raise NotFound("Image metadata item not found.")
    _client(req).set_image_properties(req.ctx, req.params["image_id"], {}, remove=(key,))
    return empty_response(204)
