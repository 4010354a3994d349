"""The config drive tree every guest driver packages (no backend needed)."""

from __future__ import annotations

import json

from onestack.compute.drivers.base import Interface, VolumeAttachment
from onestack.compute.drivers.configdrive import scrub, write_config_drive
from tests.compute.drivers.contract import make_guest


def test_config_drive_lists_tagged_devices_and_nics(tmp_path):
    guest = make_guest(interfaces=(
        Interface(port_id="p1", mac_address="fa:16:3e:00:00:01", tag="mgmt"),
        Interface(port_id="p2", mac_address="fa:16:3e:00:00:02")), volumes=(
        VolumeAttachment(volume_id="v1", device="/dev/vdb", tag="data"),
        VolumeAttachment(volume_id="v2", device="/dev/vdc")))
    root = write_config_drive(tmp_path / "drive", guest)
    meta = json.loads((root / "openstack" / "latest" / "meta_data.json").read_text())
    assert meta["devices"] == [
        {"type": "nic", "mac": "fa:16:3e:00:00:01", "tags": ["mgmt"]},
        {"type": "disk", "bus": "virtio", "serial": "v1", "path": "/dev/vdb", "tags": ["data"]}]
    assert (root / "onestack" / "net").read_text().splitlines() == [
        "eth0 fa:16:3e:00:00:01 dhcp - -", "eth1 fa:16:3e:00:00:02 dhcp - -"]


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_scrubbed_tree_keeps_nothing_of_its_guest_and_is_rewritten_whole(tmp_path):
    """A destroyed guest's tree, scrubbed, is rewritten in place for the next guest: the same content as a
    new tree, nothing of the guest it came from (its key, user data, NICs)."""
    secret = make_guest(key_data="ssh-ed25519 AAAA secret", user_data="c2VjcmV0LXVzZXItZGF0YQ==",
                        interfaces=(Interface(port_id="p1", mac_address="fa:16:3e:00:00:01"),))
    root = write_config_drive(tmp_path / "drive", secret)
    inodes = {name: p.stat().st_ino for name, p in ((p.relative_to(root), p) for p in root.rglob("*"))}
    assert scrub(root) and set(_tree(root).values()) == {b""}  # every file emptied
    guest = make_guest()
    write_config_drive(root, guest)
    assert _tree(root) == _tree(write_config_drive(tmp_path / "fresh", guest))
    assert b"secret" not in b"".join(_tree(root).values()) and b"fa:16:3e" not in b"".join(_tree(root).values())
    assert {name: p.stat().st_ino for name, p in ((p.relative_to(root), p) for p in root.rglob("*"))} == inodes


def test_only_a_whole_config_drive_tree_is_scrubbed_or_rewritten_in_place(tmp_path):
    root = write_config_drive(tmp_path / "drive", make_guest(key_data="ssh-ed25519 AAAA k"))
    (root / "onestack" / "extra").write_text("x")
    assert not scrub(root) and (root / "onestack" / "authorized_keys").read_text()
    write_config_drive(root, make_guest())  # made anew: the stray file is gone
    assert not (root / "onestack" / "extra").exists() and scrub(root)
    assert not scrub(tmp_path / "missing")
