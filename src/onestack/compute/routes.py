"""The whole compute URL table, relative to /compute."""

from onestack.core.http import Route

from .api import flavors, keypairs, quotas, versions, zones

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
]
