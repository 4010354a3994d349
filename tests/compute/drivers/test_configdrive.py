"""The config drive tree every guest driver packages (no backend needed)."""

from __future__ import annotations

import json

from onestack.compute.drivers.base import Interface, VolumeAttachment
from onestack.compute.drivers.configdrive import write_config_drive
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
