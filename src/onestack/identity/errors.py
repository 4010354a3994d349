"""Identity errors render in keystone's format: ``{"error": {"code", "title", "message"}}``."""

from onestack.core.errors import keystone_format


def unauthorized_headers(base_url: str) -> dict:
    # keystoneauth reads this to learn where to authenticate.
    return {"WWW-Authenticate": f'Keystone uri="{base_url}/identity"'}


ERROR_FORMAT = keystone_format
