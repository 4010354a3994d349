"""Microversion negotiation, as the API-WG guideline and Nova/Cinder/Placement implement it.

A request names a version with ``OpenStack-API-Version: <service> X.Y`` (or a service's legacy
header such as ``X-OpenStack-Nova-API-Version: X.Y``); ``latest`` means the maximum; no header means
the minimum.  Out-of-range versions are 406; malformed ones 400.  Responses carry the version used and
``Vary`` so caches keep versions apart.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .errors import BadRequest, NotAcceptable

_VERSION = re.compile(r"^([1-9]\d*)\.(0|[1-9]\d*)$")


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.match(text.strip())
        if not m:
            raise BadRequest(f"Invalid API version format {text!r}: expected X.Y.")
        return cls(int(m.group(1)), int(m.group(2)))

    def __lt__(self, other: Version) -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def matches(self, low: str | None = None, high: str | None = None) -> bool:
        """True when low <= self <= high (either bound optional)."""
        mine = (self.major, self.minor)
        if low is not None and mine < _bound(low):
            return False
        return not (high is not None and _bound(high) < mine)


@functools.lru_cache(maxsize=512)
def _bound(text: str) -> tuple[int, int]:
    """A version literal of the code, parsed once (views test a dozen per item of a long list)."""
    parsed = Version.parse(text)
    return parsed.major, parsed.minor


@dataclass(frozen=True)
class Microversions:
    service: str  # the name in the header: "compute", "volume", "placement"
    min: str
    max: str
    legacy_headers: tuple[str, ...] = ()  # e.g. ("X-OpenStack-Nova-API-Version",)

    def negotiate(self, headers) -> Version:
        requested = None
        for value in headers.getlist("openstack-api-version") if hasattr(headers, "getlist") else []:
            for part in value.split(","):
                name, _, ver = part.strip().partition(" ")
                if name.lower() == self.service:
                    requested = ver.strip()
        if requested is None:
            for legacy in self.legacy_headers:
                if legacy.lower() in headers:
                    requested = headers[legacy.lower()]
                    break
        low, high = Version.parse(self.min), Version.parse(self.max)
        if requested is None:
            return low
        if requested.strip().lower() == "latest":
            return high
        version = Version.parse(requested)
        if version < low or high < version:
            raise NotAcceptable(
                f"Version {version} is not supported by the API. Minimum is {low} and maximum is {high}."
            )
        return version

    def response_headers(self, version: Version) -> dict[str, str]:
        headers = {"OpenStack-API-Version": f"{self.service} {version}", "Vary": "OpenStack-API-Version"}
        for legacy in self.legacy_headers:
            headers[legacy] = str(version)
            headers["Vary"] += f", {legacy}"
        return headers
