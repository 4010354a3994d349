"""The metadata sub-resource shared by volumes and snapshots: the same six calls, differing only in
how the parent is loaded, which service stores the keys and the policy rule names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from onestack.core.errors import BadRequest, NotFound
from onestack.core.http import ApiRequest, empty_response, json_response

from ..schemas.volumes import META_ITEM, METADATA_BODY
from .common import body_of, caller


@dataclass(frozen=True)
class MetadataApi:
    label: str  # "Volume" / "Snapshot", for error messages
    load: Callable  # (req, uow, rule) -> parent row, after enforcing rule on it
    svc: ModuleType  # service module with set_metadata and delete_metadata_key
    get_rule: str
    create_rule: str
    update_rule: str
    delete_rule: str

    def show(self, req: ApiRequest):
        with req.deps.uow() as uow:
            row = self.load(req, uow, self.get_rule)
            return json_response({"metadata": dict(row.metadata_ or {})})

    def create(self, req: ApiRequest):
        return self._set(req, self.create_rule, replace=False)

    def replace(self, req: ApiRequest):
        return self._set(req, self.update_rule, replace=True)

    def _set(self, req: ApiRequest, rule: str, replace: bool):
        body = body_of(req, METADATA_BODY, "metadata")
        with req.deps.uow(write=True) as uow:
            row = self.load(req, uow, rule)
            meta = self.svc.set_metadata(uow, caller(req), row.id, body, replace=replace)
        return json_response({"metadata": meta})

    def show_item(self, req: ApiRequest):
        key = req.params["key"]
        with req.deps.uow() as uow:
            row = self.load(req, uow, self.get_rule)
            meta = row.metadata_ or {}
            if key not in meta:
                raise NotFound(f"{self.label} {row.id} has no metadata with key {key}.")
            return json_response({"meta": {key: meta[key]}})

    def update_item(self, req: ApiRequest):
        key = req.params["key"]
        body = body_of(req, META_ITEM, "meta")
        if key not in body:
            raise BadRequest("Request body and URI mismatch")
        with req.deps.uow(write=True) as uow:
            row = self.load(req, uow, self.update_rule)
            self.svc.set_metadata(uow, caller(req), row.id, body, replace=False)
        return json_response({"meta": body})

    def delete_item(self, req: ApiRequest):
        with req.deps.uow(write=True) as uow:
            row = self.load(req, uow, self.delete_rule)
            self.svc.delete_metadata_key(uow, caller(req), row.id, req.params["key"])
        return empty_response(200)
