"""rmdsl.store."""
