# The auth body is checked field by field in the token service (methods decide which parts matter);
# this schema fixes only the envelope.
AUTH = {
    "type": "object",
    "properties": {
        "auth": {
            "type": "object",
            "properties": {
                "identity": {
                    "type": "object",
                    "properties": {"methods": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
                    "required": ["methods"],
                },
                "scope": {"type": ["object", "string"]},
            },
            "required": ["identity"],
        }
    },
    "required": ["auth"],
}
