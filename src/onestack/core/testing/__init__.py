"""Test support shipped with the package: throwaway databases, an in-process API client."""
