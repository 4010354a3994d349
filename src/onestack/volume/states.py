"""Upstream Cinder lifecycle states and which transitions the API accepts from which state."""

from __future__ import annotations

# volume status
CREATING = "creating"
AVAILABLE = "available"
RESERVED = "reserved"
ATTACHING = "attaching"
IN_USE = "in-use"
DETACHING = "detaching"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
ERROR_EXTENDING = "error_extending"
ERROR_RESTORING = "error_restoring"
EXTENDING = "extending"
DOWNLOADING = "downloading"
UPLOADING = "uploading"
RETYPING = "retyping"
BACKING_UP = "backing-up"
RESTORING_BACKUP = "restoring-backup"
AWAITING_TRANSFER = "awaiting-transfer"
MAINTENANCE = "maintenance"

VOLUME_STATES = (CREATING, AVAILABLE, RESERVED, ATTACHING, IN_USE, DETACHING, DELETING, ERROR, ERROR_DELETING,
                 ERROR_EXTENDING, ERROR_RESTORING, EXTENDING, DOWNLOADING, UPLOADING, RETYPING, BACKING_UP,
                 RESTORING_BACKUP, AWAITING_TRANSFER, MAINTENANCE, "error_backing-up", "error_managing",
                 "managing", "reverting")

# a volume may be deleted from these states (and when not attached), as upstream
DELETABLE = (AVAILABLE, ERROR, ERROR_RESTORING, ERROR_EXTENDING, "error_managing")

# attach_status
DETACHED = "detached"
ATTACHED = "attached"
ATTACH_STATES = (DETACHED, ATTACHING, ATTACHED, DETACHING, RESERVED, "error_attaching", "error_detaching")

# snapshot status
SNAPSHOT_STATES = (CREATING, AVAILABLE, DELETING, ERROR, ERROR_DELETING, "unmanaging", BACKING_UP, "restoring")

# backup status
BACKUP_STATES = (CREATING, AVAILABLE, DELETING, ERROR, "error_deleting", "restoring")
RESTORING = "restoring"

# what the agent does for a volume in a transitional state
AGENT_WORK = (CREATING, DOWNLOADING, DELETING, EXTENDING, UPLOADING, RESTORING_BACKUP, RETYPING)
