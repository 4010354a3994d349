"""No route answers 500 to bad input: every route, with unknown ids, a real image id and garbage bodies."""

import uuid

import pytest

from onestack.image.routes import ROUTES

BODIES = [None, b"\xff not json", b"[]", b'{"member": 5, "status": [], "method": "x"}']
CTYPES = ["application/json", "application/openstack-images-v2.1-json-patch", "text/plain"]


def _paths(route, image_id: str, member: str) -> list[str]:
    values = [{"image_id": str(uuid.uuid4()), "member_id": "nobody", "tag": "t"},
              {"image_id": image_id, "member_id": member, "tag": "x" * 300},
              {"image_id": "not-a-uuid", "member_id": "%", "tag": "%20"}]
    paths = []
    for v in values:
        path = route.path
        for key, value in v.items():
            path = path.replace("{" + key + "}", value)
        paths.append("/image" + path)
    return paths


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_bad_input_never_500(route, admin, demo, images):
    image = images.active(visibility="shared")
    admin.post(f"/image/v2/images/{image['id']}/members", json={"member": demo.project_id})
    for session in (admin, demo):
        for path in _paths(route, image["id"], demo.project_id):
            for body in BODIES:
                for ctype in CTYPES:
                    resp = session.request(route.method, path, content=body, headers={"Content-Type": ctype})
                    assert resp.status_code < 500, (route.method, path, body, ctype, resp.text)
                    if resp.status_code >= 400:
                        assert resp.json()["code"] == resp.status_code
