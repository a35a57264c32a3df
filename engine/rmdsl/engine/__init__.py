"""rmdsl.engine."""
