"""Volume backends.  ``DRIVERS`` maps the configured name to the class (no loading from strings)."""
