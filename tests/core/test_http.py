"""The HTTP dispatcher: routing (404/405), JSON bodies, authentication, error rendering, request ids."""

import pytest
from starlette.testclient import TestClient

from onestack.core.context import RequestContext
from onestack.core.errors import Conflict, Unauthorized, keystone_format
from onestack.core.http import ApiApp, Mount, Route, ServiceSpec, empty_response, json_response
from onestack.core.policy import Enforcer


def _list(req):
    return json_response({"things": [], "user": req.ctx.user_id})


def _show(req):
    return json_response({"thing": {"id": req.params["thing_id"]}})


def _create(req):
    req.enforce("thing:create")
    return json_response({"thing": req.json()}, 201)


def _conflict(req):
    raise Conflict("Duplicate thing.")


def _boom(req):
    raise RuntimeError("secret internals")


def _delete(req):
    return empty_response()


SPEC = ServiceSpec(
    type="thing", name="thingy", prefix="/thing", endpoint_path="/thing",
    routes=[
        Route("GET", "/v1/things", _list, public=True),
        Route("POST", "/v1/things", _create),
        Route("GET", "/v1/things/{thing_id}", _show),
        Route("DELETE", "/v1/things/{thing_id}", _delete),
        Route("PUT", "/v1/conflict", _conflict),
        Route("GET", "/v1/boom", _boom, public=True),
    ],
    rules={"thing:create": "role:admin"},
    error_format=keystone_format,
    unauthorized_headers=lambda base: {"WWW-Authenticate": f'Thing uri="{base}"'},
)


def _authenticate(token: str, request_id: str = "") -> RequestContext:
    if token == "admin":
        return RequestContext(request_id=request_id, user_id="u-admin", roles=("admin",))
    if token == "member":
        return RequestContext(request_id=request_id, user_id="u-member", roles=("member",))
    raise Unauthorized()


@pytest.fixture(scope="module")
def client():
    app = ApiApp([Mount(SPEC, None, Enforcer(SPEC.rules))], authenticate=_authenticate, log_requests=False)
    with TestClient(app, base_url="http://api.test", raise_server_exceptions=False) as http:
        yield http


ADMIN = {"X-Auth-Token": "admin"}


def test_dispatch_public_route_without_token(client):
    resp = client.get("/thing/v1/things")
    assert resp.status_code == 200
    assert resp.json() == {"things": [], "user": None}


def test_dispatch_public_route_with_token_sees_caller(client):
    assert client.get("/thing/v1/things", headers=ADMIN).json()["user"] == "u-admin"


def test_dispatch_path_params(client):
    assert client.get("/thing/v1/things/abc", headers=ADMIN).json() == {"thing": {"id": "abc"}}


def test_dispatch_trailing_slash_is_tolerated(client):
    assert client.get("/thing/v1/things/", headers=ADMIN).status_code == 200


def test_dispatch_unknown_path_is_404_in_service_format(client):
    resp = client.get("/thing/v1/nothing", headers=ADMIN)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == 404 and resp.json()["error"]["title"] == "Not Found"


def test_dispatch_path_outside_every_service_is_404(client):
    resp = client.get("/elsewhere")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == 404
    assert resp.headers["X-Openstack-Request-Id"].startswith("req-")


def test_dispatch_prefix_is_matched_whole_segments(client):
    assert client.get("/thingamajig/v1/things").status_code == 404


def test_dispatch_wrong_method_is_405(client):
    resp = client.patch("/thing/v1/things", headers=ADMIN, json={})
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == 405


def test_dispatch_head_on_get_route_has_no_body(client):
    resp = client.head("/thing/v1/things")
    assert resp.status_code == 200
    assert resp.content == b""


def test_dispatch_without_token_is_401_with_challenge(client):
    resp = client.get("/thing/v1/things/abc")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Thing uri="http://api.test"'
    assert resp.json()["error"]["title"] == "Unauthorized"


def test_dispatch_bad_token_is_401(client):
    assert client.get("/thing/v1/things/abc", headers={"X-Auth-Token": "nope"}).status_code == 401


def test_dispatch_bad_token_on_public_route_is_anonymous(client):
    resp = client.get("/thing/v1/things", headers={"X-Auth-Token": "nope"})
    assert resp.status_code == 200 and resp.json()["user"] is None


def test_dispatch_policy_denied_is_403(client):
    resp = client.post("/thing/v1/things", headers={"X-Auth-Token": "member"}, json={"a": 1})
    assert resp.status_code == 403
    assert "thing:create" in resp.json()["error"]["message"]


def test_dispatch_json_body(client):
    resp = client.post("/thing/v1/things", headers=ADMIN, json={"a": 1})
    assert resp.status_code == 201 and resp.json() == {"thing": {"a": 1}}


def test_dispatch_malformed_json_is_400(client):
    resp = client.post("/thing/v1/things", headers={**ADMIN, "Content-Type": "application/json"},
                       content=b"{not json")
    assert resp.status_code == 400
    assert "JSON" in resp.json()["error"]["message"]


def test_dispatch_empty_body_is_400(client):
    resp = client.post("/thing/v1/things", headers=ADMIN)
    assert resp.status_code == 400


def test_dispatch_non_json_content_type_is_415(client):
    resp = client.post("/thing/v1/things", headers={**ADMIN, "Content-Type": "text/plain"}, content=b"{}")
    assert resp.status_code == 415


def test_dispatch_api_error_is_rendered(client):
    resp = client.put("/thing/v1/conflict", headers=ADMIN)
    assert resp.status_code == 409
    assert resp.json() == {"error": {"code": 409, "title": "Conflict", "message": "Duplicate thing."}}


def test_dispatch_unexpected_exception_is_500_without_internals(client):
    resp = client.get("/thing/v1/boom")
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == 500
    assert "secret internals" not in resp.text


def test_dispatch_request_ids_are_unique_on_every_response(client):
    ids = {client.get(path).headers["X-Openstack-Request-Id"]
           for path in ("/thing/v1/things", "/thing/v1/things", "/thing/v1/nothing", "/thing/v1/boom", "/x")}
    assert len(ids) == 5
    assert all(i.startswith("req-") for i in ids)


def test_dispatch_empty_response(client):
    resp = client.delete("/thing/v1/things/abc", headers=ADMIN)
    assert resp.status_code == 204 and resp.content == b""


# -- against the real identity service ------------------------------------------------------------


def test_version_discovery_root_and_identity(http):
    root = http.get("/")
    assert root.status_code == 300
    values = root.json()["versions"]["values"]
    assert any(v["id"].startswith("v3") and v["status"] == "stable" for v in values)
    assert http.get("/identity").status_code == 300
    v3 = http.get("/identity/v3")
    assert v3.status_code == 200
    version = v3.json()["version"]
    assert version["id"].startswith("v3.")
    assert version["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"
    assert version["links"][0]["href"].endswith("/identity/v3/")
    assert v3.headers["X-Openstack-Request-Id"].startswith("req-")


def test_identity_unknown_path_is_404_keystone_format(http):
    resp = http.get("/identity/v3/nothing-here")
    assert resp.status_code == 404
    assert set(resp.json()["error"]) == {"code", "title", "message"}


def test_identity_wrong_method_is_405(admin):
    assert admin.put("/identity/v3/projects", json={}).status_code == 405


def test_identity_bad_json_is_400(admin):
    resp = admin.post("/identity/v3/projects", content=b"{", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 400


def test_dispatch_nul_in_body_is_400(client):
    resp = client.post("/thing/v1/things", headers=ADMIN, json={"name": "a\u0000b"})
    assert resp.status_code == 400
    resp = client.post("/thing/v1/things", headers=ADMIN, json={"nested": [{"k\u0000": 1}]})
    assert resp.status_code == 400
    # An escaped backslash followed by "u0000" is an ordinary string.
    assert client.post("/thing/v1/things", headers=ADMIN, json={"name": "\\u0000"}).status_code == 201


def test_dispatch_nul_in_path_or_query_is_400(client):
    assert client.get("/thing/v1/things/a%00b", headers=ADMIN).status_code == 400
    assert client.get("/thing/v1/things", params={"name": "a\u0000b"}).status_code == 400


def test_request_for_a_service_still_starting_waits_for_its_mount():
    import threading

    other = ServiceSpec(type="other", name="other", prefix="/other", endpoint_path="/other",
                        routes=[Route("GET", "/v1/ping", lambda req: json_response({"pong": True}), public=True)],
                        rules={"x": ""}, error_format=keystone_format)
    app = ApiApp([Mount(SPEC, None, Enforcer(SPEC.rules))], authenticate=_authenticate, log_requests=False,
                 complete=False)
    with TestClient(app) as http:
        assert http.get("/thing/v1/things").status_code == 200  # served while the rest starts
        mounted = threading.Timer(0.2, app.add_mounts, args=([Mount(other, None, Enforcer(other.rules))],),
                                  kwargs={"complete": True})
        mounted.start()
        resp = http.get("/other/v1/ping")  # waits instead of failing with 404
        mounted.join()
        assert resp.status_code == 200 and resp.json() == {"pong": True}
        assert http.get("/nothing/here").status_code == 404  # complete now: unknown paths fail at once


def test_a_queued_route_runs_its_requests_in_arrival_order_a_few_at_a_time():
    """A burst on a queued route (POST /servers): at most QUEUED_AT_ONCE handlers run, the others wait
    their turn in arrival order; other routes are not held up meanwhile."""
    import threading
    import time

    from onestack.core import http

    lock, running, started = threading.Lock(), [], []
    go = threading.Event()

    def _slow(req):
        with lock:
            running.append(req.params["n"])
            started.append(req.params["n"])
        go.wait(30)
        with lock:
            running.remove(req.params["n"])
        return json_response({"n": req.params["n"]})

    spec = ServiceSpec(type="q", name="q", prefix="/q", endpoint_path="/q", error_format=keystone_format,
                       rules={}, routes=[Route("POST", "/v1/slow/{n}", _slow, public=True, queued=True),
                                         Route("GET", "/v1/things", _list, public=True)])
    app = ApiApp([Mount(spec, None, Enforcer({}))], authenticate=_authenticate, log_requests=False)
    n = http.QUEUED_AT_ONCE + 3
    with TestClient(app, base_url="http://api.test") as client:
        results: dict[int, int] = {}
        threads = []
        for i in range(n):  # one after another: each waits in the queue before the next is sent
            t = threading.Thread(target=lambda i=i: results.__setitem__(i, client.post(f"/q/v1/slow/{i}").status_code))
            t.start()
            threads.append(t)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                limiter = app._queues.get(spec.routes[0])
                if len(started) == i + 1 or (limiter is not None and limiter.statistics().tasks_waiting == i + 1
                                             - http.QUEUED_AT_ONCE):
                    break
                time.sleep(0.005)
        with lock:
            assert len(running) == http.QUEUED_AT_ONCE
        assert client.get("/q/v1/things").status_code == 200  # not behind the queue
        go.set()
        for t in threads:
            t.join(30)
    assert results == {i: 200 for i in range(n)}
    # admitted in arrival order; those admitted together (one released turn each) may start in either order
    assert sorted(started) == [str(i) for i in range(n)]
    assert all(abs(int(v) - p) < http.QUEUED_AT_ONCE for p, v in enumerate(started)), started
