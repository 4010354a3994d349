"""The image status machine, as upstream's domain model allows it.

``queued`` -> ``saving`` -> ``active`` by upload; ``queued`` -> ``uploading`` -> ``importing`` ->
``active`` by stage + import.  A failed or aborted upload goes back to ``queued`` (upstream deprecated
``killed`` in v2 so that uploads can be retried).  ``active`` <-> ``deactivated``.
"""

from __future__ import annotations

QUEUED = "queued"
SAVING = "saving"
ACTIVE = "active"
KILLED = "killed"
DELETED = "deleted"
PENDING_DELETE = "pending_delete"
DEACTIVATED = "deactivated"
UPLOADING = "uploading"
IMPORTING = "importing"

STATUSES = (QUEUED, SAVING, ACTIVE, KILLED, DELETED, UPLOADING, IMPORTING, PENDING_DELETE, DEACTIVATED)

TRANSITIONS: dict[str, tuple[str, ...]] = {
    QUEUED: (SAVING, UPLOADING, IMPORTING, ACTIVE, DELETED),
    SAVING: (ACTIVE, KILLED, DELETED, QUEUED),
    UPLOADING: (IMPORTING, QUEUED, DELETED),
    IMPORTING: (ACTIVE, DELETED, QUEUED),
    ACTIVE: (PENDING_DELETE, DELETED, DEACTIVATED),
    KILLED: (DELETED,),
    PENDING_DELETE: (DELETED,),
    DELETED: (),
    DEACTIVATED: (ACTIVE, DELETED),
}

# Statuses in which data is on its way in (they count against image_count_uploading).
IN_FLIGHT = (SAVING, UPLOADING, IMPORTING)


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, ())
