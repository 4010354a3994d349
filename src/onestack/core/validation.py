"""Request body validation against JSON Schema; failures become 400s naming the invalid field."""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from .errors import BadRequest


@functools.cache
def _validator(schema_json: str) -> Draft4Validator:
    return Draft4Validator(json.loads(schema_json))


_BY_ID: dict[int, tuple[dict, Draft4Validator]] = {}


def _validator_for(schema: dict) -> Draft4Validator:
    """Schemas are module constants: look their validator up by identity, then by content."""
    found = _BY_ID.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    validator = _validator(json.dumps(schema, sort_keys=True))
    if len(_BY_ID) >= 4096:  # schemas built per request would otherwise pile up
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, validator)  # keeps ``schema`` alive, so its id stays unique
    return validator


def validate(schema: dict, body: Any) -> Any:
    validator = _validator_for(schema)
    if validator.is_valid(body):
        return body
    error = best_match(validator.iter_errors(body))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        where = f"Invalid input for field '{path}': " if path else "Invalid input: "
        raise BadRequest(where + error.message)
    return body


# Small schema builders shared by services.
def string(max_length: int = 255, min_length: int = 0, nullable: bool = False) -> dict:
    schema: dict = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    return schema


NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]+"}
ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[a-zA-Z0-9-_]+$"}
NULLABLE_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
BOOLEAN = {"type": "boolean"}
DESCRIPTION = {"type": ["string", "null"]}
