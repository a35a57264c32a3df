"""rmdsl.lang."""
