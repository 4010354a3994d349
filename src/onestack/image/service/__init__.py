"""Image use cases (no HTTP): images, members, tags, data upload/download/import, quotas."""
