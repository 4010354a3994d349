"""The whole block storage URL table, relative to /volume.

Every v3 resource is reachable both with the project id in the URL (``/v3/{project_id}/volumes``,
how most deployments register the endpoint) and without it (``/v3/volumes``, 3.67+; how onestack's
catalog registers it).  Project-less routes come first so a literal segment always wins.
"""

from onestack.core.http import Route

from .api import actions, attachments, backups, messages, misc, quotas, snapshots, transfers, types, volumes

R = Route

_RESOURCES: list[tuple[str, str, object]] = [
    # volumes
    ("GET", "/volumes", volumes.list_volumes),
    ("GET", "/volumes/detail", volumes.list_volumes_detail),
    ("GET", "/volumes/summary", volumes.show_volume_summary),
    ("POST", "/volumes", volumes.create_volume),
    ("GET", "/volumes/{volume_id}", volumes.show_volume),
    ("PUT", "/volumes", misc.not_found),
    ("DELETE", "/volumes", misc.not_found),
    ("PUT", "/volumes/{volume_id}", volumes.update_volume),
    ("DELETE", "/volumes/{volume_id}", volumes.delete_volume),
    ("POST", "/volumes/{volume_id}/action", actions.volume_action),
    ("GET", "/volumes/{volume_id}/metadata", volumes.METADATA.show),
    ("POST", "/volumes/{volume_id}/metadata", volumes.METADATA.create),
    ("PUT", "/volumes/{volume_id}/metadata", volumes.METADATA.replace),
    ("GET", "/volumes/{volume_id}/metadata/{key}", volumes.METADATA.show_item),
    ("PUT", "/volumes/{volume_id}/metadata/{key}", volumes.METADATA.update_item),
    ("DELETE", "/volumes/{volume_id}/metadata/{key}", volumes.METADATA.delete_item),
    # volume types
    ("GET", "/types", types.list_types),
    ("POST", "/types", types.create_type),
    ("GET", "/types/{type_id}", types.show_type),
    ("PUT", "/types/{type_id}", types.update_type),
    ("DELETE", "/types/{type_id}", types.delete_type),
    ("POST", "/types/{type_id}/action", types.type_action),
    ("GET", "/types/{type_id}/os-volume-type-access", types.list_type_access),
    ("GET", "/types/{type_id}/extra_specs", types.list_extra_specs),
    ("POST", "/types/{type_id}/extra_specs", types.create_extra_specs),
    ("GET", "/types/{type_id}/extra_specs/{key}", types.show_extra_spec),
    ("PUT", "/types/{type_id}/extra_specs/{key}", types.update_extra_spec),
    ("DELETE", "/types/{type_id}/extra_specs/{key}", types.delete_extra_spec),
    ("GET", "/default-types", types.list_default_types),
    ("GET", "/default-types/{target_project_id}", types.show_default_type),
    ("PUT", "/default-types/{target_project_id}", types.set_default_type),
    ("DELETE", "/default-types/{target_project_id}", types.unset_default_type),
    # snapshots
    ("GET", "/snapshots", snapshots.list_snapshots),
    ("GET", "/snapshots/detail", snapshots.list_snapshots_detail),
    ("POST", "/snapshots", snapshots.create_snapshot),
    ("GET", "/snapshots/{snapshot_id}", snapshots.show_snapshot),
    ("PUT", "/snapshots", misc.not_found),
    ("DELETE", "/snapshots", misc.not_found),
    ("PUT", "/snapshots/{snapshot_id}", snapshots.update_snapshot),
    ("DELETE", "/snapshots/{snapshot_id}", snapshots.delete_snapshot),
    ("POST", "/snapshots/{snapshot_id}/action", snapshots.snapshot_action),
    ("GET", "/snapshots/{snapshot_id}/metadata", snapshots.METADATA.show),
    ("POST", "/snapshots/{snapshot_id}/metadata", snapshots.METADATA.create),
    ("PUT", "/snapshots/{snapshot_id}/metadata", snapshots.METADATA.replace),
    ("GET", "/snapshots/{snapshot_id}/metadata/{key}", snapshots.METADATA.show_item),
    ("PUT", "/snapshots/{snapshot_id}/metadata/{key}", snapshots.METADATA.update_item),
    ("DELETE", "/snapshots/{snapshot_id}/metadata/{key}", snapshots.METADATA.delete_item),
    # backups
    ("GET", "/backups", backups.list_backups),
    ("GET", "/backups/detail", backups.list_backups_detail),
    ("POST", "/backups", backups.create_backup),
    ("GET", "/backups/{backup_id}", backups.show_backup),
    ("PUT", "/backups/{backup_id}", backups.update_backup),
    ("DELETE", "/backups/{backup_id}", backups.delete_backup),
    ("POST", "/backups/{backup_id}/restore", backups.restore_backup),
    ("POST", "/backups/{backup_id}/action", backups.backup_action),
    # attachments (3.27)
    ("GET", "/attachments", attachments.list_attachments),
    ("GET", "/attachments/detail", attachments.list_attachments_detail),
    ("POST", "/attachments", attachments.create_attachment),
    ("GET", "/attachments/{attachment_id}", attachments.show_attachment),
    ("PUT", "/attachments/{attachment_id}", attachments.update_attachment),
    ("DELETE", "/attachments/{attachment_id}", attachments.delete_attachment),
    ("POST", "/attachments/{attachment_id}/action", attachments.attachment_action),
    # quotas and limits
    ("GET", "/os-quota-sets/{target_project_id}", quotas.show_quota_set),
    ("GET", "/os-quota-sets/{target_project_id}/defaults", quotas.show_default_quota_set),
    ("PUT", "/os-quota-sets/{target_project_id}", quotas.update_quota_set),
    ("DELETE", "/os-quota-sets/{target_project_id}", quotas.delete_quota_set),
    ("GET", "/limits", quotas.show_limits),
    # user messages (3.3)
    ("GET", "/messages", messages.list_messages),
    ("GET", "/messages/{message_id}", messages.show_message),
    ("DELETE", "/messages/{message_id}", messages.delete_message),
    # zones, services, extensions
    ("GET", "/os-availability-zone", misc.list_availability_zones),
    ("GET", "/os-services", misc.list_services),
    ("GET", "/extensions", misc.list_extensions),
]

for _prefix in ("/os-volume-transfer", "/volume-transfers"):
    _RESOURCES += [
        ("GET", _prefix, transfers.list_transfers),
        ("GET", f"{_prefix}/detail", transfers.list_transfers_detail),
        ("POST", _prefix, transfers.create_transfer),
        ("GET", f"{_prefix}/{{transfer_id}}", transfers.show_transfer),
        ("DELETE", f"{_prefix}/{{transfer_id}}", transfers.delete_transfer),
        ("POST", f"{_prefix}/{{transfer_id}}/accept", transfers.accept_transfer),
    ]

ROUTES: list[Route] = [
    R("GET", "/", misc.list_versions, public=True, versioned=False),
    R("GET", "/v3", misc.show_version, public=True, versioned=False),
    *[R(method, f"/v3{path}", handler) for method, path, handler in _RESOURCES],
    *[R(method, f"/v3/{{project_id}}{path}", handler) for method, path, handler in _RESOURCES],
]
