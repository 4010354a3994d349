"""No route answers 500 to bad input: every route with unknown ids, real ids and garbage bodies, and every
action with garbage arguments; errors are in Cinder's format."""

import uuid

import pytest

from onestack.volume.api.actions import ACTIONS
from onestack.volume.routes import ROUTES

from .conftest import LATEST, V3

BODIES = [None, b"not json", b"[]", b"{}", b'{"volume": [], "snapshot": 5, "backup": "x", "quota_set": {"a": []}}',
          b"\xff\xfe", b'{"volume": {"size": "1.5", "metadata": {"": "x"}}}']
GARBAGE_ARGS = [None, [], "x", 5, {"bad": 1}, {"new_size": -1, "status": 5, "new_type": None, "readonly": "z"}]
UNKNOWN = str(uuid.uuid4())


def _paths(route, ids: dict) -> list[str]:
    out = []
    for values in (ids, {k: UNKNOWN for k in ids}, {k: "not-a-uuid%20" for k in ids}):
        path = route.path
        for key, value in values.items():
            path = path.replace("{" + key + "}", value)
        out.append("/volume" + path)
    return out


def _error_format(resp) -> None:
    body = resp.json()
    ((key, doc),) = body.items()
    assert doc["code"] == resp.status_code and doc["message"], body


PROJECTLESS = [r for r in ROUTES if "{project_id}" not in r.path]


@pytest.mark.parametrize("route", PROJECTLESS, ids=lambda r: f"{r.method} {r.path}")
def test_route_bad_input_never_500(route, admin, demo, vols):
    vol = vols.create()
    ids = {"volume_id": vol["id"], "snapshot_id": UNKNOWN, "backup_id": UNKNOWN, "attachment_id": UNKNOWN,
           "transfer_id": UNKNOWN, "type_id": "default", "key": "k", "target_project_id": demo.project_id}
    for session in (admin, demo):
        for path in _paths(route, ids):
            for body in BODIES:
                resp = session.request(route.method, path, content=body,
                                       headers={"Content-Type": "application/json", **LATEST})
                assert resp.status_code < 500, (route.method, path, body, resp.text)
                if resp.status_code >= 400:
                    _error_format(resp)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_action_garbage_arguments_never_500(action, admin, vols):
    vol = vols.create()
    for args in GARBAGE_ARGS:
        resp = admin.post(f"{V3}/volumes/{vol['id']}/action", json={action: args}, headers=LATEST)
        assert resp.status_code < 500, (action, args, resp.text)
        if resp.status_code >= 400:
            _error_format(resp)
