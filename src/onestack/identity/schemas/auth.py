# The auth body as keystone's schema fixes it: the shape of each method's and the scope's parts.
# Which parts matter (and whether they identify anything) is decided in the token service.
_STRING = {"type": "string"}
_DOMAIN = {"type": "object", "properties": {"id": _STRING, "name": _STRING}}
_USER = {"type": "object", "properties": {"id": _STRING, "name": _STRING, "password": _STRING, "domain": _DOMAIN}}
_PROJECT = {"type": ["object", "null"], "properties": {"id": _STRING, "name": _STRING, "domain": _DOMAIN}}
AUTH = {
    "type": "object",
    "properties": {
        "auth": {
            "type": "object",
            "properties": {
                "identity": {
                    "type": "object",
                    "properties": {
                        "methods": {"type": "array", "items": _STRING, "minItems": 1},
                        "password": {"type": "object", "properties": {"user": _USER}},
                        "token": {"type": "object", "properties": {"id": _STRING}, "required": ["id"]},
                        "application_credential": {"type": "object", "properties": {
                            "id": _STRING, "name": _STRING, "secret": _STRING, "user": _USER}},
                    },
                    "required": ["methods"],
                },
                "scope": {
                    "type": ["object", "string"],
                    "properties": {
                        "project": _PROJECT,
                        "domain": {**_DOMAIN, "type": ["object", "null"]},
                        "system": {"type": "object", "properties": {"all": {"type": "boolean"}}},
                    },
                },
            },
            "required": ["identity"],
        }
    },
    "required": ["auth"],
}
