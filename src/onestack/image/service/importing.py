"""The import properties upstream shows on an image while and after it is imported (any method).

``os_glance_import_task`` holds the import (a second import meanwhile is a 409);
``os_glance_importing_to_stores`` lists the stores still being written; ``os_glance_failed_import``
the stores the last import failed for.  The last two stay on the image, empty, once it is over.
"""

from __future__ import annotations

import uuid

from ..model import Image, ImageProperty

TASK = "os_glance_import_task"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"


def _items(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _set_property(image: Image, name: str, value: str | None) -> None:
    kept = [p for p in image.properties if p.name != name]
    if value is not None:
        kept.append(ImageProperty(name=name, value=value))
    image.properties = kept


def _without(value: str, store_id: str) -> list[str]:
    return [s for s in _items(value) if s != store_id]


def begin(image: Image, store_id: str) -> None:
    """In the transaction that moves the image to ``importing``."""
    _set_property(image, TASK, str(uuid.uuid4()))
    _set_property(image, IMPORTING_TO, store_id)
    _set_property(image, FAILED, ",".join(_without(image.extra().get(FAILED, ""), store_id)))


def settle(image: Image, store_id: str, ok: bool) -> None:
    """Import properties once the import ended, in the transaction that sets the final status."""
    extra = image.extra()
    failed = _without(extra.get(FAILED, ""), store_id) + ([] if ok else [store_id])
    _set_property(image, TASK, None)
    _set_property(image, IMPORTING_TO, ",".join(_without(extra.get(IMPORTING_TO, ""), store_id)))
    _set_property(image, FAILED, ",".join(failed))


def recover(image: Image, store_id: str) -> None:
    """An import interrupted by a restart ends as a failed one."""
    if TASK in image.extra():
        settle(image, store_id, ok=False)
