"""The whole networking URL table, relative to /network."""

from onestack.core.http import Route

from .api import misc, networks, ports, routers, security_groups

R = Route
V = "/v2.0"

ROUTES: list[Route] = [
    R("GET", "/", misc.list_versions, public=True),
    R("GET", V, misc.show_version),
    R("GET", f"{V}/extensions", misc.list_extensions),
    R("GET", f"{V}/extensions/{{alias}}", misc.show_extension),
    R("GET", f"{V}/availability_zones", misc.list_availability_zones),
    # networks
    R("GET", f"{V}/networks", networks.list_networks),
    R("POST", f"{V}/networks", networks.create_network),
    R("GET", f"{V}/networks/{{network_id}}", networks.show_network),
    R("PUT", f"{V}/networks/{{network_id}}", networks.update_network),
    R("DELETE", f"{V}/networks/{{network_id}}", networks.delete_network),
    # subnets
    R("GET", f"{V}/subnets", networks.list_subnets),
    R("POST", f"{V}/subnets", networks.create_subnet),
    R("GET", f"{V}/subnets/{{subnet_id}}", networks.show_subnet),
    R("PUT", f"{V}/subnets/{{subnet_id}}", networks.update_subnet),
    R("DELETE", f"{V}/subnets/{{subnet_id}}", networks.delete_subnet),
    # subnet pools
    R("GET", f"{V}/subnetpools", networks.list_subnetpools),
    R("POST", f"{V}/subnetpools", networks.create_subnetpool),
    R("GET", f"{V}/subnetpools/{{subnetpool_id}}", networks.show_subnetpool),
    R("PUT", f"{V}/subnetpools/{{subnetpool_id}}", networks.update_subnetpool),
    R("DELETE", f"{V}/subnetpools/{{subnetpool_id}}", networks.delete_subnetpool),
    # ports
    R("GET", f"{V}/ports", ports.list_ports),
    R("POST", f"{V}/ports", ports.create_port),
    R("GET", f"{V}/ports/{{port_id}}", ports.show_port),
    R("PUT", f"{V}/ports/{{port_id}}", ports.update_port),
    R("DELETE", f"{V}/ports/{{port_id}}", ports.delete_port),
    # routers
    R("GET", f"{V}/routers", routers.list_routers),
    R("POST", f"{V}/routers", routers.create_router),
    R("GET", f"{V}/routers/{{router_id}}", routers.show_router),
    R("PUT", f"{V}/routers/{{router_id}}", routers.update_router),
    R("DELETE", f"{V}/routers/{{router_id}}", routers.delete_router),
    R("PUT", f"{V}/routers/{{router_id}}/add_router_interface", routers.add_router_interface),
    R("PUT", f"{V}/routers/{{router_id}}/remove_router_interface", routers.remove_router_interface),
    # floating IPs
    R("GET", f"{V}/floatingips", routers.list_floatingips),
    R("POST", f"{V}/floatingips", routers.create_floatingip),
    R("GET", f"{V}/floatingips/{{floatingip_id}}", routers.show_floatingip),
    R("PUT", f"{V}/floatingips/{{floatingip_id}}", routers.update_floatingip),
    R("DELETE", f"{V}/floatingips/{{floatingip_id}}", routers.delete_floatingip),
    # security groups
    R("GET", f"{V}/security-groups", security_groups.list_security_groups),
    R("POST", f"{V}/security-groups", security_groups.create_security_group),
    R("GET", f"{V}/security-groups/{{security_group_id}}", security_groups.show_security_group),
    R("PUT", f"{V}/security-groups/{{security_group_id}}", security_groups.update_security_group),
    R("DELETE", f"{V}/security-groups/{{security_group_id}}", security_groups.delete_security_group),
    R("GET", f"{V}/security-group-rules", security_groups.list_security_group_rules),
    R("POST", f"{V}/security-group-rules", security_groups.create_security_group_rule),
    R("GET", f"{V}/security-group-rules/{{rule_id}}", security_groups.show_security_group_rule),
    R("DELETE", f"{V}/security-group-rules/{{rule_id}}", security_groups.delete_security_group_rule),
    # quotas
    R("GET", f"{V}/quotas", misc.list_quotas),
    R("GET", f"{V}/quotas/tenant", misc.show_own_quota),
    R("GET", f"{V}/quotas/project", misc.show_own_quota),
    R("GET", f"{V}/quotas/{{project_id}}", misc.show_quota),
    R("GET", f"{V}/quotas/{{project_id}}/details", misc.show_quota_details),
    R("GET", f"{V}/quotas/{{project_id}}/details.json", misc.show_quota_details),
    R("GET", f"{V}/quotas/{{project_id}}/default", misc.show_quota_default),
    R("PUT", f"{V}/quotas/{{project_id}}", misc.update_quota),
    R("DELETE", f"{V}/quotas/{{project_id}}", misc.delete_quota),
    # network IP availability
    R("GET", f"{V}/network-ip-availabilities", misc.list_network_ip_availabilities),
    R("GET", f"{V}/network-ip-availabilities/{{network_id}}", misc.show_network_ip_availability),
    # tags (standard-attr-tag) on networks, subnets, ports, routers, floatingips, security-groups, subnetpools
    R("GET", f"{V}/{{collection}}/{{resource_id}}/tags", misc.list_tags),
    R("PUT", f"{V}/{{collection}}/{{resource_id}}/tags", misc.replace_tags),
    R("DELETE", f"{V}/{{collection}}/{{resource_id}}/tags", misc.delete_tags),
    R("GET", f"{V}/{{collection}}/{{resource_id}}/tags/{{tag}}", misc.check_tag),
    R("PUT", f"{V}/{{collection}}/{{resource_id}}/tags/{{tag}}", misc.add_tag),
    R("DELETE", f"{V}/{{collection}}/{{resource_id}}/tags/{{tag}}", misc.delete_tag),
]
