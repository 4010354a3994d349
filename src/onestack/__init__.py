"""onestack: the OpenStack APIs, for real, in one clean codebase."""

__version__ = "0.1.0"
