"""Block storage use cases: no HTTP, never drivers.  Each function runs inside a caller's unit of work."""
