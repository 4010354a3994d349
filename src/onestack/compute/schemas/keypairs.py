"""Key pair request schemas (Nova's, per microversion)."""

_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9 _-]+$"}
_NAME_V2_92 = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9 @._-]+$"}


def _create(name: dict, extra: dict, required: tuple[str, ...] = ("name",)) -> dict:
    return {
        "type": "object",
        "properties": {"keypair": {
            "type": "object",
            "properties": {"name": name, "public_key": {"type": "string"}, **extra},
            "required": list(required),
            "additionalProperties": False,
        }},
        "required": ["keypair"],
        "additionalProperties": False,
    }


_TYPE = {"type": {"type": "string", "enum": ["ssh", "x509"]}}
_USER = {"user_id": {"type": "string", "minLength": 1, "maxLength": 255}}

CREATE_KEYPAIR = _create(_NAME, {})
CREATE_KEYPAIR_V2_2 = _create(_NAME, _TYPE)
CREATE_KEYPAIR_V2_10 = _create(_NAME, {**_TYPE, **_USER})
CREATE_KEYPAIR_V2_92 = _create(_NAME_V2_92, {**_TYPE, **_USER}, ("name", "public_key"))
