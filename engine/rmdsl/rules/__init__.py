"""rmdsl.rules."""
