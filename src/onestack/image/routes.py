"""The whole image URL table, relative to /image."""

from onestack.core.http import Route

from .api import discovery, image_data, images, members, schemas, versions

R = Route

ROUTES: list[Route] = [
    R("GET", "/", versions.list_versions, public=True),
    R("GET", "/versions", versions.show_versions, public=True),
    # images
    R("GET", "/v2/images", images.list_images),
    R("POST", "/v2/images", images.create_image),
    R("DELETE", "/v2/images", images.delete_without_id),
    R("GET", "/v2/images/{image_id}", images.show_image),
    R("PATCH", "/v2/images/{image_id}", images.update_image),
    R("DELETE", "/v2/images/{image_id}", images.delete_image),
    R("POST", "/v2/images/{image_id}/actions/deactivate", images.deactivate_image),
    R("POST", "/v2/images/{image_id}/actions/reactivate", images.reactivate_image),
    R("PUT", "/v2/images/{image_id}/tags/{tag}", images.add_tag),
    R("DELETE", "/v2/images/{image_id}/tags/{tag}", images.delete_tag),
    # data
    R("PUT", "/v2/images/{image_id}/file", image_data.upload_image_data, stream=True),
    R("GET", "/v2/images/{image_id}/file", image_data.download_image_data),
    R("PUT", "/v2/images/{image_id}/stage", image_data.stage_image_data, stream=True),
    R("POST", "/v2/images/{image_id}/import", image_data.import_image),
    # members
    R("GET", "/v2/images/{image_id}/members", members.list_members),
    R("POST", "/v2/images/{image_id}/members", members.create_member),
    R("GET", "/v2/images/{image_id}/members/{member_id}", members.show_member),
    R("PUT", "/v2/images/{image_id}/members/{member_id}", members.update_member),
    R("DELETE", "/v2/images/{image_id}/members/{member_id}", members.delete_member),
    # schemas
    R("GET", "/v2/schemas/image", schemas.show_image_schema),
    R("GET", "/v2/schemas/images", schemas.show_images_schema),
    R("GET", "/v2/schemas/member", schemas.show_member_schema),
    R("GET", "/v2/schemas/members", schemas.show_members_schema),
    # discovery
    R("GET", "/v2/info/import", discovery.show_import_info),
    R("GET", "/v2/info/stores", discovery.list_stores),
    R("GET", "/v2/info/stores/detail", discovery.list_stores_detail),
    R("GET", "/v2/info/usage", discovery.show_usage),
]
