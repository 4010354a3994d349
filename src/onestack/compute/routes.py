"""The whole compute URL table, relative to /compute."""

from onestack.core.http import Route

from .api import (
    aggregates,
    flavors,
    groups,
    hosts,
    keypairs,
    metadata,
    quotas,
    server_actions,
    servers,
    usage,
    versions,
    zones,
)

R = Route
V = "/v2.1"

ROUTES: list[Route] = [
    R("GET", "/", versions.list_versions, public=True, versioned=False),
    R("GET", V, versions.show_version, public=True, versioned=False),
    # flavors
    R("GET", f"{V}/flavors", flavors.list_flavors),
    R("POST", f"{V}/flavors", flavors.create_flavor),
    R("GET", f"{V}/flavors/detail", flavors.list_flavors_detail),
    R("GET", f"{V}/flavors/{{flavor_id}}", flavors.show_flavor),
    R("PUT", f"{V}/flavors/{{flavor_id}}", flavors.update_flavor),
    R("DELETE", f"{V}/flavors/{{flavor_id}}", flavors.delete_flavor),
    R("POST", f"{V}/flavors/{{flavor_id}}/action", flavors.flavor_action),
    R("GET", f"{V}/flavors/{{flavor_id}}/os-flavor-access", flavors.list_flavor_access),
    R("GET", f"{V}/flavors/{{flavor_id}}/os-extra_specs", flavors.list_extra_specs),
    R("POST", f"{V}/flavors/{{flavor_id}}/os-extra_specs", flavors.create_extra_specs),
    R("GET", f"{V}/flavors/{{flavor_id}}/os-extra_specs/{{key}}", flavors.show_extra_spec),
    R("PUT", f"{V}/flavors/{{flavor_id}}/os-extra_specs/{{key}}", flavors.update_extra_spec),
    R("DELETE", f"{V}/flavors/{{flavor_id}}/os-extra_specs/{{key}}", flavors.delete_extra_spec),
    # key pairs
    R("GET", f"{V}/os-keypairs", keypairs.list_keypairs),
    R("POST", f"{V}/os-keypairs", keypairs.create_keypair),
    R("GET", f"{V}/os-keypairs/{{name}}", keypairs.show_keypair),
    R("DELETE", f"{V}/os-keypairs/{{name}}", keypairs.delete_keypair),
    # availability zones, limits, quotas
    R("GET", f"{V}/os-availability-zone", zones.list_zones),
    R("GET", f"{V}/os-availability-zone/detail", zones.list_zones_detail),
    R("GET", f"{V}/limits", quotas.limits),
    R("GET", f"{V}/os-quota-sets/{{project_id}}", quotas.show_quota_set),
    R("PUT", f"{V}/os-quota-sets/{{project_id}}", quotas.update_quota_set),
    R("DELETE", f"{V}/os-quota-sets/{{project_id}}", quotas.delete_quota_set),
    R("GET", f"{V}/os-quota-sets/{{project_id}}/defaults", quotas.show_quota_defaults),
    R("GET", f"{V}/os-quota-sets/{{project_id}}/detail", quotas.show_quota_set_detail),
    # servers
    R("GET", f"{V}/servers", servers.list_servers),
    R("POST", f"{V}/servers", servers.create_server),
    R("GET", f"{V}/servers/detail", servers.list_servers_detail),
    R("GET", f"{V}/servers/{{server_id}}", servers.show_server),
    R("PUT", f"{V}/servers/{{server_id}}", servers.update_server),
    R("DELETE", f"{V}/servers/{{server_id}}", servers.delete_server),
    R("POST", f"{V}/servers/{{server_id}}/action", server_actions.server_action),
    R("POST", f"{V}/servers/{{server_id}}/remote-consoles", server_actions.create_remote_console),
    R("GET", f"{V}/servers/{{server_id}}/diagnostics", server_actions.show_diagnostics),
    R("GET", f"{V}/servers/{{server_id}}/os-instance-actions", server_actions.list_instance_actions),
    R("GET", f"{V}/servers/{{server_id}}/os-instance-actions/{{request_id}}", server_actions.show_instance_action),
    R("GET", f"{V}/servers/{{server_id}}/metadata", servers.list_metadata),
    R("POST", f"{V}/servers/{{server_id}}/metadata", servers.update_metadata),
    R("PUT", f"{V}/servers/{{server_id}}/metadata", servers.replace_metadata),
    R("GET", f"{V}/servers/{{server_id}}/metadata/{{key}}", servers.show_metadata),
    R("PUT", f"{V}/servers/{{server_id}}/metadata/{{key}}", servers.update_metadata_item),
    R("DELETE", f"{V}/servers/{{server_id}}/metadata/{{key}}", servers.delete_metadata_item),
    R("GET", f"{V}/servers/{{server_id}}/tags", servers.list_tags),
    R("PUT", f"{V}/servers/{{server_id}}/tags", servers.replace_tags),
    R("DELETE", f"{V}/servers/{{server_id}}/tags", servers.delete_tags),
    R("GET", f"{V}/servers/{{server_id}}/tags/{{tag}}", servers.check_tag),
    R("PUT", f"{V}/servers/{{server_id}}/tags/{{tag}}", servers.add_tag),
    R("DELETE", f"{V}/servers/{{server_id}}/tags/{{tag}}", servers.delete_tag),
    # server groups
    R("GET", f"{V}/os-server-groups", groups.list_groups),
    R("POST", f"{V}/os-server-groups", groups.create_group),
    R("GET", f"{V}/os-server-groups/{{group_id}}", groups.show_group),
    R("DELETE", f"{V}/os-server-groups/{{group_id}}", groups.delete_group),
    # hypervisors, services, aggregates, usage
    R("GET", f"{V}/os-hypervisors", hosts.list_hypervisors),
    R("GET", f"{V}/os-hypervisors/detail", hosts.list_hypervisors_detail),
    R("GET", f"{V}/os-hypervisors/statistics", hosts.hypervisor_statistics),
    R("GET", f"{V}/os-hypervisors/{{hypervisor_id}}", hosts.show_hypervisor),
    R("GET", f"{V}/os-hypervisors/{{hypervisor_id}}/uptime", hosts.hypervisor_uptime),
    R("GET", f"{V}/os-services", hosts.list_services),
    R("PUT", f"{V}/os-services/{{service_id}}", hosts.update_service),
    R("DELETE", f"{V}/os-services/{{service_id}}", hosts.delete_service),
    R("GET", f"{V}/os-aggregates", aggregates.list_aggregates),
    R("POST", f"{V}/os-aggregates", aggregates.create_aggregate),
    R("GET", f"{V}/os-aggregates/{{aggregate_id}}", aggregates.show_aggregate),
    R("PUT", f"{V}/os-aggregates/{{aggregate_id}}", aggregates.update_aggregate),
    R("DELETE", f"{V}/os-aggregates/{{aggregate_id}}", aggregates.delete_aggregate),
    R("POST", f"{V}/os-aggregates/{{aggregate_id}}/action", aggregates.aggregate_action),
    R("GET", f"{V}/os-simple-tenant-usage", usage.list_usage),
    R("GET", f"{V}/os-simple-tenant-usage/{{project_id}}", usage.show_usage),
]

# The metadata service guests reach through the network's metadata proxy, mounted at /metadata.
M = Route
METADATA_ROUTES: list[Route] = [
    M("GET", "/", metadata.list_root, public=True, versioned=False),
    M("GET", "/openstack", metadata.list_openstack_versions, public=True, versioned=False),
    M("GET", "/openstack/{version}", metadata.openstack_listing, public=True, versioned=False),
    M("GET", "/openstack/{version}/{item}", metadata.openstack_item, public=True, versioned=False),
    M("GET", "/latest/meta-data", metadata.ec2_metadata, public=True, versioned=False),
    M("GET", "/latest/meta-data/{path}", metadata.ec2_metadata, public=True, versioned=False),
    M("GET", "/latest/meta-data/{path}/{sub}", metadata.ec2_metadata, public=True, versioned=False),
    M("GET", "/latest/meta-data/{path}/{sub}/{leaf}", metadata.ec2_metadata, public=True, versioned=False),
    M("GET", "/latest/user-data", metadata.ec2_user_data, public=True, versioned=False),
]
