"""rmdsl.store: the SQLite state database (schema, migrations, repositories, backups)."""

from rmdsl.store.backup import list_backups
from rmdsl.store.db import default_path
from rmdsl.store.queries import MetricSummary, RulesetVersionEntry
from rmdsl.store.sqlite import SqliteStore

__all__ = ["MetricSummary", "RulesetVersionEntry", "SqliteStore", "default_path", "list_backups"]
