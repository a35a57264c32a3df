"""rmdsl.broker."""
