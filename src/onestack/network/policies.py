"""Networking policy defaults under neutron's rule names (``create_network``, ``get_port``, ...).

Targets carry the resource's ``project_id``/``tenant_id`` (and ``network:shared`` etc.).  Visibility
of other projects' resources is enforced in the service queries as well (a member never even sees
another project's private resources); these rules decide what a caller may do with what it sees.
"""

ADMIN = "rule:context_is_admin"
OWNER = "rule:admin_or_owner"
ANY = ""

RULES: dict[str, str] = {
    "context_is_admin": "role:admin",
    "admin_only": "rule:context_is_admin",
    "owner": "project_id:%(project_id)s",
    "admin_or_owner": "rule:context_is_admin or rule:owner",
    "admin_or_network_owner": "rule:context_is_admin or project_id:%(network:project_id)s",
    "shared": "field:networks:shared=True",
    "external": "field:networks:router:external=True",
    "regular_user": ANY,
    # networks
    "create_network": ANY,
    "create_network:shared": ADMIN,
    "create_network:router:external": ADMIN,
    "create_network:is_default": ADMIN,
    "create_network:provider:network_type": ADMIN,
    "create_network:provider:physical_network": ADMIN,
    "create_network:provider:segmentation_id": ADMIN,
    "get_network": f"{OWNER} or 'True':%(shared)s or 'True':%(router:external)s",
    "get_network:provider:network_type": ADMIN,
    "get_network:provider:physical_network": ADMIN,
    "get_network:provider:segmentation_id": ADMIN,
    "update_network": OWNER,
    "update_network:shared": ADMIN,
    "update_network:router:external": ADMIN,
    "update_network:provider:network_type": ADMIN,
    "update_network:provider:physical_network": ADMIN,
    "update_network:provider:segmentation_id": ADMIN,
    "delete_network": OWNER,
    # subnets
    "create_subnet": "rule:admin_or_network_owner",
    "get_subnet": f"{OWNER} or 'True':%(network:shared)s or 'True':%(network:router:external)s",
    "update_subnet": "rule:admin_or_network_owner",
    "delete_subnet": "rule:admin_or_network_owner",
    # subnet pools
    "create_subnetpool": ANY,
    "create_subnetpool:shared": ADMIN,
    "create_subnetpool:is_default": ADMIN,
    "get_subnetpool": f"{OWNER} or 'True':%(shared)s",
    "update_subnetpool": OWNER,
    "update_subnetpool:is_default": ADMIN,
    "delete_subnetpool": OWNER,
    # ports
    "create_port": ANY,
    "create_port:device_owner": "not rule:network_device or rule:context_is_admin or rule:admin_or_network_owner",
    "create_port:mac_address": "rule:context_is_admin or rule:admin_or_network_owner",
    "create_port:fixed_ips": "rule:context_is_admin or rule:admin_or_network_owner or 'True':%(network:shared)s",
    "create_port:binding:host_id": ADMIN,
    "create_port:binding:profile": ADMIN,
    "create_port:port_security_enabled": "rule:context_is_admin or rule:admin_or_network_owner",
    "create_port:allowed_address_pairs": "rule:admin_or_network_owner",
    "network_device": "field:port:device_owner=~^network:",
    "get_port": f"{OWNER} or rule:admin_or_network_owner",
    "get_port:binding:vif_type": ADMIN,
    "get_port:binding:vif_details": ADMIN,
    "get_port:binding:host_id": ADMIN,
    "get_port:binding:profile": ADMIN,
    "update_port": OWNER,
    "update_port:device_owner": "rule:context_is_admin or rule:admin_or_network_owner",
    "update_port:mac_address": ADMIN,
    "update_port:fixed_ips": "rule:context_is_admin or rule:admin_or_network_owner",
    "update_port:binding:host_id": ADMIN,
    "update_port:binding:profile": ADMIN,
    "update_port:port_security_enabled": "rule:context_is_admin or rule:admin_or_network_owner",
    "update_port:allowed_address_pairs": "rule:admin_or_network_owner",
    "delete_port": f"{OWNER} or rule:admin_or_network_owner",
    # routers
    "create_router": ANY,
    "create_router:external_gateway_info:enable_snat": ADMIN,
    "create_router:external_gateway_info:external_fixed_ips": ADMIN,
    "get_router": OWNER,
    "update_router": OWNER,
    "update_router:external_gateway_info:enable_snat": ADMIN,
    "update_router:external_gateway_info:external_fixed_ips": ADMIN,
    "delete_router": OWNER,
    "add_router_interface": OWNER,
    "remove_router_interface": OWNER,
    # floating IPs
    "create_floatingip": ANY,
    "create_floatingip:floating_ip_address": ADMIN,
    "get_floatingip": OWNER,
    "update_floatingip": OWNER,
    "delete_floatingip": OWNER,
    # security groups
    "create_security_group": ANY,
    "get_security_group": OWNER,
    "update_security_group": OWNER,
    "delete_security_group": OWNER,
    "create_security_group_rule": OWNER,
    "get_security_group_rule": f"{OWNER} or project_id:%(security_group:project_id)s",
    "delete_security_group_rule": f"{OWNER} or project_id:%(security_group:project_id)s",
    # quotas
    "get_quota": OWNER,
    "update_quota": ADMIN,
    "delete_quota": ADMIN,
    # ip availability
    "get_network_ip_availability": ADMIN,
    # tags
    "get_tags": ANY,
    "update_tags": OWNER,
    "delete_tags": OWNER,
    # extensions / agents
    "get_agent": ADMIN,
    "get_availability_zone": "rule:regular_user",
}
