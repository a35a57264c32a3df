"""Daily snapshots of the state database via SQLite's online backup API, with retention.

`state-YYYY-MM-DD.db` is named for the trading day that is ending; the newest
`keep` snapshots stay, older ones are deleted. The copy is made from a separate
read connection (a WAL snapshot: consistent, and the engine's writes go on).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sqlite3
from pathlib import Path

from rmdsl.errors import StoreError

DEFAULT_KEEP = 30
_NAME = re.compile(r"^state-(\d{4}-\d{2}-\d{2})\.db$")


def backup_name(day: dt.date) -> str:
    return f"state-{day.isoformat()}.db"


def list_backups(dest_dir: Path) -> list[Path]:
    """Snapshots in `dest_dir`, oldest first (names sort by trading day)."""
    if not dest_dir.is_dir():
        return []
    return sorted(p for p in dest_dir.iterdir() if _NAME.match(p.name))


def _copy(source: Path, dest_dir: Path, day: dt.date) -> Path:
    dest_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = dest_dir / backup_name(day)
    partial = final.with_name(final.name + ".partial")
    partial.unlink(missing_ok=True)
    if not source.is_file():
        raise OSError(f"no database file at {source}")
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained single file
        finally:
            dst.close()
    finally:
        src.close()
    os.chmod(partial, 0o600)
    os.replace(partial, final)  # a reader never sees a half-written snapshot
    return final


def prune(dest_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` snapshots; the deleted paths."""
    snapshots = list_backups(dest_dir)
    doomed = snapshots[: max(len(snapshots) - max(keep, 1), 0)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


async def write_backup(
    source: Path, dest_dir: Path, day: dt.date, keep: int = DEFAULT_KEEP
) -> Path:
    """Snapshot `source` into `dest_dir` for trading day `day`, then apply retention."""
    try:
        path = await asyncio.to_thread(_copy, source, dest_dir, day)
        await asyncio.to_thread(prune, dest_dir, keep)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(
            f"state database {source}: cannot write the backup to {dest_dir}: {exc}\n"
            f"  help: check free space and that {dest_dir} is writable"
        ) from None
    return path
