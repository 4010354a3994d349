"""Quota set request schemas (Nova's, per microversion)."""

_VALUE = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 0x7FFFFFFF}

_BASE = ("instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups", "server_group_members")
_FILES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
_NETWORK = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules", "networks")


def _update(names: tuple[str, ...]) -> dict:
    return {
        "type": "object",
        "properties": {"quota_set": {
            "type": "object",
            "properties": {**{n: _VALUE for n in names}, "force": {"type": ["boolean", "string"]}},
            "additionalProperties": False,
        }},
        "required": ["quota_set"],
        "additionalProperties": False,
    }


UPDATE_QUOTA_SET = _update(_BASE + _FILES + _NETWORK)
UPDATE_QUOTA_SET_V2_36 = _update(_BASE + _FILES)
UPDATE_QUOTA_SET_V2_57 = _update(_BASE)
