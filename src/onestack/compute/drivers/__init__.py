"""Guest drivers: ``base`` (the interface), ``fake`` (in memory) and the real ones."""
