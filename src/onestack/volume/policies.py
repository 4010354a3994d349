"""Default policy rules under Cinder's rule names (secure-RBAC defaults: admin, project member, reader).

Targets carry ``project_id`` of the resource acted on; ``policy.yaml`` overrides any rule by name.
"""

ADMIN = "rule:admin_api"
MEMBER = "rule:admin_api or rule:project_member"
READER = "rule:admin_api or rule:project_reader"

_BASE = {
    "admin_api": "role:admin",
    "project_member": "role:member and project_id:%(project_id)s",
    "project_reader": "role:reader and project_id:%(project_id)s",
    "context_is_admin": "role:admin",
}

_MEMBER_RULES = (
    "volume:create", "volume:create_from_image", "volume:update", "volume:delete", "volume:extend",
    "volume:extend_attached_volume", "volume:retype", "volume:update_readonly_flag",
    "volume:create_volume_metadata", "volume:update_volume_metadata", "volume:delete_volume_metadata",
    "volume_extension:volume_image_metadata:set", "volume_extension:volume_image_metadata:remove",
    "volume_extension:volume_actions:upload_image", "volume_extension:volume_actions:attach",
    "volume_extension:volume_actions:detach", "volume_extension:volume_actions:reserve",
    "volume_extension:volume_actions:unreserve", "volume_extension:volume_actions:begin_detaching",
    "volume_extension:volume_actions:roll_detaching", "volume_extension:volume_actions:initialize_connection",
    "volume_extension:volume_actions:terminate_connection", "volume:attachment_create", "volume:attachment_update",
    "volume:attachment_delete", "volume:attachment_complete", "volume:create_snapshot", "volume:update_snapshot",
    "volume:delete_snapshot", "volume:update_snapshot_metadata", "volume:delete_snapshot_metadata",
    "backup:create", "backup:delete", "backup:restore", "backup:update", "volume:create_transfer",
    "volume:accept_transfer", "volume:delete_transfer", "volume:set_bootable", "message:delete",
    "volume:revert_to_snapshot",
)
_READER_RULES = (
    "volume:get", "volume:get_all", "volume:get_volume_metadata", "volume_extension:volume_image_metadata:show",
    "volume:get_snapshot", "volume:get_all_snapshots", "volume:get_snapshot_metadata", "backup:get",
    "backup:get_all", "volume:get_transfer", "volume:get_all_transfers", "volume_extension:quotas:show",
    "volume:attachment_get", "volume:attachment_get_all", "limits_extension:used_limits",
    "volume_extension:volume_tenant_attribute", "volume_extension:default_get", "message:get_all", "message:get",
)
_ADMIN_RULES = (
    "volume_extension:volume_admin_actions:reset_status", "volume_extension:volume_admin_actions:force_delete",
    "volume_extension:snapshot_admin_actions:reset_status", "volume_extension:snapshot_admin_actions:force_delete",
    "volume_extension:backup_admin_actions:reset_status", "volume_extension:backup_admin_actions:force_delete",
    "volume_extension:volume_actions:upload_public", "volume_extension:types_manage",
    "volume_extension:type_create", "volume_extension:type_update", "volume_extension:type_delete",
    "volume_extension:types_extra_specs:create", "volume_extension:types_extra_specs:update",
    "volume_extension:types_extra_specs:delete", "volume_extension:volume_type_access:addProjectAccess",
    "volume_extension:volume_type_access:removeProjectAccess", "volume_extension:quotas:update",
    "volume_extension:quotas:delete", "volume_extension:services:index", "volume_extension:services:update",
    "volume_extension:volume_host_attribute", "volume_extension:volume_mig_status_attribute",
    "volume_extension:default_set", "volume_extension:default_unset", "volume_extension:default_get_all",
    "volume_extension:quota_classes", "volume:get_all_admin", "volume_extension:volume_type_access",
)

RULES: dict[str, str] = {
    **_BASE,
    **{name: MEMBER for name in _MEMBER_RULES},
    **{name: READER for name in _READER_RULES},
    **{name: ADMIN for name in _ADMIN_RULES},
    # anyone authenticated may read types (private ones only where granted), zones and extensions
    "volume_extension:type_get": "",
    "volume_extension:type_get_all": "",
    "volume_extension:types_extra_specs:index": "",
    "volume_extension:types_extra_specs:show": "",
    "volume_extension:availability_zone_list": "",
    "volume_extension:extensions": "",
    "volume_extension:access_types_qos_specs_id": ADMIN,
    "volume_extension:access_types_extra_specs": "",
}
