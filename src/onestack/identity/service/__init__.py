"""Identity use cases, one module per subsystem (resources, users, roles, catalog, tokens, ...)."""
