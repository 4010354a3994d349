"""``interfaceAttachment`` documents (from the network service's port), with the ``tag`` from 2.70."""

from __future__ import annotations

from onestack.core.microversion import Version


def interface(port: dict, tag: str | None, v: Version) -> dict:
    body = {"fixed_ips": [{"ip_address": ip["ip_address"], "subnet_id": ip["subnet_id"]}
                          for ip in port.get("fixed_ips", ())],
            "mac_addr": port.get("mac_address"), "net_id": port.get("network_id"), "port_id": port["id"],
            "port_state": port.get("status")}
    if v.matches("2.70"):
        body["tag"] = tag
    return body
