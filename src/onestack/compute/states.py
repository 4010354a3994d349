"""Server lifecycle: vm_state/task_state/power_state and the API status they show, as Nova.

``ACTIONS`` is the table every server action goes through: which vm_states (and task_states) allow
it (else 409), the task_state the API sets, and what the agent leaves behind on success.
"""

from __future__ import annotations

from dataclasses import dataclass

# vm_states
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# power states (nova.compute.power_state)
NOSTATE, RUNNING, PAUSED_POWER, SHUTDOWN, CRASHED, SUSPENDED_POWER = 0, 1, 3, 4, 6, 7

# task_states that are in flight on the agent
SCHEDULING = "scheduling"
SPAWNING = "spawning"
DELETING = "deleting"

_STATUS_BY_VM = {
    ACTIVE: "ACTIVE", BUILDING: "BUILD", STOPPED: "SHUTOFF", RESIZED: "VERIFY_RESIZE", PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED", RESCUED: "RESCUE", ERROR: "ERROR", DELETED: "DELETED", SOFT_DELETED: "SOFT_DELETED",
    SHELVED: "SHELVED", SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}
_STATUS_BY_TASK = {
    ACTIVE: {"rebooting": "REBOOT", "reboot_pending": "REBOOT", "reboot_started": "REBOOT",
             "rebooting_hard": "HARD_REBOOT", "reboot_pending_hard": "HARD_REBOOT",
             "reboot_started_hard": "HARD_REBOOT", "updating_password": "PASSWORD", "rebuilding": "REBUILD",
             "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD", "migrating": "MIGRATING",
             "resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE",
             "resize_finish": "RESIZE"},
    STOPPED: {"resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE",
              "resize_finish": "RESIZE", "rebuilding": "REBUILD"},
    RESIZED: {"resize_reverting": "REVERT_RESIZE"},
    PAUSED: {"migrating": "MIGRATING"},
    ERROR: {"rebuilding": "REBUILD"},
}


def status(vm_state: str, task_state: str | None) -> str:
    by_task = _STATUS_BY_TASK.get(vm_state, {})
    if task_state in by_task:
        return by_task[task_state]
    return _STATUS_BY_VM.get(vm_state, "UNKNOWN")


def vm_state_of_status(value: str) -> list[str]:
    """The ``status`` list filter: every vm_state that shows as this status."""
    value = value.upper()
    return [vm for vm, shown in _STATUS_BY_VM.items() if shown == value] or (
        [ACTIVE] if value in ("REBOOT", "HARD_REBOOT", "PASSWORD", "REBUILD", "MIGRATING", "RESIZE") else
        [RESIZED] if value == "REVERT_RESIZE" else ["__none__"])


@dataclass(frozen=True)
class Action:
    name: str  # instance action name (os-instance-actions)
    vm_states: tuple[str, ...]  # where the action is allowed
    task_state: str | None  # set by the API while the agent works
    final_vm_state: str | None = None  # None: unchanged
    final_power_state: int | None = None
    task_states: tuple[str | None, ...] = (None,)  # allowed task_states (None = no task in flight)
    agent: bool = True  # False: the API completes it (no driver work)


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("stop", (ACTIVE, RESCUED, ERROR), "powering-off", STOPPED, SHUTDOWN),
    Action("start", (STOPPED,), "powering-on", ACTIVE, RUNNING),
    Action("reboot", (ACTIVE, STOPPED, PAUSED, SUSPENDED, RESCUED, ERROR), "rebooting", ACTIVE, RUNNING,
           task_states=(None, "rebooting", "reboot_pending", "reboot_started")),
    Action("reboot_hard", (ACTIVE, STOPPED, PAUSED, SUSPENDED, RESCUED, ERROR), "rebooting_hard", ACTIVE, RUNNING,
           task_states=(None, "rebooting", "reboot_pending", "reboot_started", "rebooting_hard",
                        "reboot_pending_hard", "reboot_started_hard")),
    Action("pause", (ACTIVE, RESCUED), "pausing", PAUSED, PAUSED_POWER),
    Action("unpause", (PAUSED,), "unpausing", ACTIVE, RUNNING),
    Action("suspend", (ACTIVE, SHELVED), "suspending", SUSPENDED, SUSPENDED_POWER),
    Action("resume", (SUSPENDED,), "resuming", ACTIVE, RUNNING),
    Action("rebuild", (ACTIVE, STOPPED, ERROR), "rebuilding", None, None),
    Action("resize", (ACTIVE, STOPPED), "resize_prep", RESIZED, None),
    Action("confirmResize", (RESIZED,), None, None, None, agent=False),
    Action("revertResize", (RESIZED,), "resize_reverting", None, None),
    Action("createImage", (ACTIVE, STOPPED, PAUSED, SUSPENDED, SHELVED, SHELVED_OFFLOADED), "image_snapshot",
           None, None),
    Action("shelve", (ACTIVE, STOPPED, PAUSED, SUSPENDED), "shelving", SHELVED_OFFLOADED, SHUTDOWN),
    Action("shelveOffload", (SHELVED,), "shelving_offloading", SHELVED_OFFLOADED, SHUTDOWN),
    Action("unshelve", (SHELVED, SHELVED_OFFLOADED), "unshelving", ACTIVE, RUNNING),
    Action("rescue", (ACTIVE, STOPPED, SHELVED, SHELVED_OFFLOADED), "rescuing", RESCUED, RUNNING),
    Action("unrescue", (RESCUED,), "unrescuing", ACTIVE, RUNNING),
    Action("migrate", (ACTIVE, STOPPED), "resize_prep", RESIZED, None),
    Action("live-migration", (ACTIVE, PAUSED), "migrating", None, None),
    Action("delete", (ACTIVE, BUILDING, SOFT_DELETED, STOPPED, PAUSED, SUSPENDED, RESCUED, RESIZED, ERROR, SHELVED,
                      SHELVED_OFFLOADED),
           DELETING, DELETED, NOSTATE, task_states=(None, SCHEDULING, SPAWNING, "networking",
                                                     "block_device_mapping", "powering-off", "powering-on",
                                                     "rebooting", "rebooting_hard", "pausing", "unpausing",
                                                     "suspending", "resuming", "image_snapshot", DELETING)),
)}
