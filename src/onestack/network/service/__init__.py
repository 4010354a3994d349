"""Networking use cases: no HTTP, no drivers.  Every function takes a unit of work and a Caller."""
