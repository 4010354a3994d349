"""The whole placement URL table, relative to /placement."""

from onestack.core.http import Route

from .api import allocations, classes, providers, root, traits

R = Route
RP = "/resource_providers/{uuid}"

ROUTES: list[Route] = [
    R("GET", "/", root.list_versions, public=True, versioned=False),
    R("GET", "/resource_providers", providers.list_providers),
    R("POST", "/resource_providers", providers.create_provider),
    R("GET", RP, providers.show_provider),
    R("PUT", RP, providers.update_provider),
    R("DELETE", RP, providers.delete_provider),
    R("GET", f"{RP}/inventories", providers.list_inventories),
    R("POST", f"{RP}/inventories", providers.create_inventory),
    R("PUT", f"{RP}/inventories", providers.set_inventories),
    R("DELETE", f"{RP}/inventories", providers.delete_inventories),
    R("GET", f"{RP}/inventories/{{rc}}", providers.show_inventory),
    R("PUT", f"{RP}/inventories/{{rc}}", providers.update_inventory),
    R("DELETE", f"{RP}/inventories/{{rc}}", providers.delete_inventory),
    R("GET", f"{RP}/usages", providers.provider_usages),
    R("GET", f"{RP}/allocations", providers.provider_allocations),
    R("GET", f"{RP}/traits", providers.list_provider_traits),
    R("PUT", f"{RP}/traits", providers.set_provider_traits),
    R("DELETE", f"{RP}/traits", providers.delete_provider_traits),
    R("GET", f"{RP}/aggregates", providers.list_provider_aggregates),
    R("PUT", f"{RP}/aggregates", providers.set_provider_aggregates),
    R("POST", "/allocations", allocations.manage_allocations),
    R("GET", "/allocations/{consumer_uuid}", allocations.show_allocations),
    R("PUT", "/allocations/{consumer_uuid}", allocations.set_allocations),
    R("DELETE", "/allocations/{consumer_uuid}", allocations.delete_allocations),
    R("GET", "/usages", allocations.usages),
    R("GET", "/allocation_candidates", allocations.allocation_candidates),
    R("GET", "/resource_classes", classes.list_classes),
    R("POST", "/resource_classes", classes.create_class),
    R("GET", "/resource_classes/{name}", classes.show_class),
    R("PUT", "/resource_classes/{name}", classes.update_class),
    R("DELETE", "/resource_classes/{name}", classes.delete_class),
    R("GET", "/traits", traits.list_traits),
    R("GET", "/traits/{name}", traits.show_trait),
    R("PUT", "/traits/{name}", traits.create_trait),
    R("DELETE", "/traits/{name}", traits.delete_trait),
]
