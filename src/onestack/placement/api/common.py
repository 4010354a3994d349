"""Helpers shared by placement handlers: bodies, version gates, query parsing."""

from __future__ import annotations

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest
from onestack.core.validation import validate


def body_of(req: ApiRequest, schema: dict):
    return validate(schema, req.json())


def since(req: ApiRequest, version: str) -> None:
    """Routes that do not exist before ``version`` answer 404 as upstream."""
    if not req.version.matches(version):
        raise NotFound("The resource could not be found.")


def parse_resources(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, amount = part.partition(":")
        try:
            value = int(amount)
        except ValueError:
            raise BadRequest(f"Badly formed resources parameter. Expected resources query string parameter in "
                             f"form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {text}.") from None
        if not name or value < 1:
            raise BadRequest(f"Requested resource {name} expected positive integer amount. Got: {amount}.")
        out[name.strip()] = value
    return out


def parse_required(values: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    required, forbidden = [], []
    for value in values:
        for trait in value.split(","):
            trait = trait.strip()
            if trait.startswith("in:"):
                trait = trait[3:]
            if not trait:
                continue
            (forbidden if trait.startswith("!") else required).append(trait.lstrip("!"))
    return tuple(required), tuple(forbidden)


def parse_member_of(values: list[str]) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    groups, forbidden = [], []
    for value in values:
        if value.startswith("!"):
            forbidden += [v for v in value[1:].removeprefix("in:").split(",") if v]
        else:
            groups.append(tuple(v for v in value.removeprefix("in:").split(",") if v))
    return tuple(groups), tuple(forbidden)
