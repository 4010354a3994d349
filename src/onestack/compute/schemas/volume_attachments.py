"""``os-volume_attachments`` request schemas (Nova's, per microversion)."""

from __future__ import annotations

import copy

_UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                                      "[0-9a-fA-F]{12}$"}
_DEVICE = {"type": ["string", "null"], "pattern": "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"}
_TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}


def _body(props: dict, required: tuple[str, ...] = ("volumeId",)) -> dict:
    return {"type": "object", "properties": {"volumeAttachment": {
        "type": "object", "properties": props, "required": list(required), "additionalProperties": False}},
        "required": ["volumeAttachment"], "additionalProperties": False}


CREATE = _body({"volumeId": _UUID, "device": _DEVICE})
CREATE_V2_49 = _body({"volumeId": _UUID, "device": _DEVICE, "tag": _TAG})
CREATE_V2_79 = _body({"volumeId": _UUID, "device": _DEVICE, "tag": _TAG, "delete_on_termination": {"type": "boolean"}})

UPDATE = _body({"volumeId": _UUID, "device": _DEVICE})
UPDATE_V2_85 = _body({"volumeId": _UUID, "device": _DEVICE, "id": _UUID, "serverId": _UUID, "tag": _TAG,
                      "delete_on_termination": {"type": "boolean"}})
UPDATE_V2_89 = copy.deepcopy(UPDATE_V2_85)
UPDATE_V2_89["properties"]["volumeAttachment"]["properties"]["bdm_uuid"] = _UUID
