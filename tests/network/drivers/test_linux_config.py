"""What the linux driver writes for its helpers (no kernel needed)."""

from __future__ import annotations

from onestack.network.drivers.base import RouterAdvertisement, RouterInterface, RouterSpec
from onestack.network.drivers.linux import radvd_config


def iface(*ads: RouterAdvertisement) -> RouterInterface:
    return RouterInterface("0123456789abcdef", "net", "fa:16:3e:00:00:01", (), 1450, ads)


def flags(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        parts = line.strip().rstrip(";").split()
        if len(parts) == 2 and parts[0].startswith("Adv"):
            out[parts[0]] = parts[1]
    return out


def test_radvd_flags_follow_the_ipv6_ra_mode_as_upstream():
    expected = {"slaac": ("off", "off", "on"), "dhcpv6-stateless": ("off", "on", "on"),
                "dhcpv6-stateful": ("on", "on", "off")}
    for mode, (managed, other, autonomous) in expected.items():
        text = radvd_config(RouterSpec("r", interfaces=(iface(RouterAdvertisement("fd00:1::/64", mode)),)))
        assert "interface qr-0123456789a" in text and "prefix fd00:1::/64" in text
        assert flags(text) == {"AdvSendAdvert": "on", "AdvLinkMTU": "1450", "AdvManagedFlag": managed,
                               "AdvOtherConfigFlag": other, "AdvOnLink": "on", "AdvAutonomous": autonomous}


def test_radvd_config_is_empty_without_advertised_prefixes_and_carries_rdnss():
    assert radvd_config(RouterSpec("r", interfaces=(iface(),))) == ""
    text = radvd_config(RouterSpec("r", interfaces=(iface(RouterAdvertisement("fd00:1::/64", "slaac",
                                                                                ("fd00:1::53", "10.0.0.53"))),)))
    assert "RDNSS fd00:1::53" in text and "10.0.0.53" not in text
