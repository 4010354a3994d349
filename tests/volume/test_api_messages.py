"""User messages (3.3): a failed asynchronous operation tells the user why."""

from .conftest import V3

V33 = {"OpenStack-API-Version": "volume 3.3"}


def test_failed_volume_create_leaves_a_user_message(admin, demo, vols, cloud):
    vol = vols.create()
    snap = vols.snapshot(vol["id"])
    cloud.clients["block-storage"].driver.delete_snapshot(snap["id"])  # the data vanishes behind our back
    failed = vols.create(snapshot_id=snap["id"], wait="error")
    messages = admin.get(f"{V3}/messages", params={"resource_uuid": failed["id"]}, headers=V33).json()["messages"]
    (message,) = messages
    assert message["resource_type"] == "VOLUME" and message["message_level"] == "ERROR"
    assert message["event_id"].startswith("VOLUME_VOLUME_001") and "does not exist" in message["user_message"]
    assert admin.get(f"{V3}/messages/{message['id']}", headers=V33).json()["message"]["id"] == message["id"]
    assert demo.get(f"{V3}/messages/{message['id']}", headers=V33).status_code == 404
    assert admin.get(f"{V3}/messages").status_code == 404  # needs 3.3
    assert admin.delete(f"{V3}/messages/{message['id']}", headers=V33).status_code == 204
    assert admin.get(f"{V3}/messages/{message['id']}", headers=V33).status_code == 404
    assert not cloud.clients["block-storage"].driver.volume_exists(failed["id"])
