"""Request body validation against JSON Schema; failures become 400s naming the invalid field.

A valid body (nearly every request) is recognised by a check compiled to Python (fastjsonschema, ~20x
faster than walking the schema); only a body it rejects goes to jsonschema, whose errors name the
field best.  fastjsonschema also checks ``format``s that jsonschema ignores here: such a body gets the
second opinion and passes when jsonschema finds nothing wrong.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import fastjsonschema

from .errors import BadRequest


@functools.cache
def _compiled(schema_json: str) -> Callable | None:
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", **json.loads(schema_json)}
    try:
        return fastjsonschema.compile(schema, use_default=False)  # never fills in defaults
    except fastjsonschema.JsonSchemaDefinitionException:
        return None  # something it cannot compile: jsonschema alone decides


_BY_ID: dict[int, tuple[dict, Callable | None]] = {}


def _compiled_for(schema: dict) -> Callable | None:
    """Schemas are module constants: look their check up by identity, then by content."""
    found = _BY_ID.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    compiled = _compiled(json.dumps(schema, sort_keys=True))
    if len(_BY_ID) >= 4096:  # schemas built per request would otherwise pile up
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, compiled)  # keeps ``schema`` alive, so its id stays unique
    return compiled


@functools.cache
def _validator(schema_json: str):
    from jsonschema import Draft4Validator  # only for bodies the fast check rejects

    return Draft4Validator(json.loads(schema_json))


def validate(schema: dict, body: Any) -> Any:
    check = _compiled_for(schema)
    if check is not None:
        try:
            check(body)
            return body
        except fastjsonschema.JsonSchemaException:
            pass
    from jsonschema.exceptions import best_match

    validator = _validator(json.dumps(schema, sort_keys=True))
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
