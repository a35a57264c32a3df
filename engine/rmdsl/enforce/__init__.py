"""rmdsl.enforce."""
