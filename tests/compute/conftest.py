"""Compute test helpers: microversion headers and unique names."""

from __future__ import annotations

import uuid

import pytest

C = "/compute/v2.1"


def mv(version: str = "2.100") -> dict:
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.fixture
def uniq():
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:8]}"
