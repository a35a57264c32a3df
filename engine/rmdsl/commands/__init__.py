"""rmdsl.commands."""
