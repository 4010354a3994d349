"""Placement use cases: no HTTP."""
