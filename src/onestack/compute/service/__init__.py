"""Compute use cases: no HTTP, never drivers."""
