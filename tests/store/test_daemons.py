"""The `daemons` table: who enforces each account, its heartbeat and status (schema 4)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from store_records import T0

from rmdsl.store import SqliteStore


async def test_claim_status_and_heartbeat_round_trip(store: SqliteStore) -> None:
    assert await store.daemon(7) is None
    await store.claim_daemon(7, os.getpid(), "host-a", T0)
    later = T0 + dt.timedelta(minutes=5)
    await store.set_daemon_status(7, "not reconciled", later)
    await store.daemon_heartbeat(7, later + dt.timedelta(seconds=30))
    row = await store.daemon(7)
    assert row is not None
    assert (row.pid, row.host, row.started_at, row.status) == (
        os.getpid(),
        "host-a",
        T0,
        "not reconciled",
    )
    assert row.status_since == later and row.heartbeat_at == later + dt.timedelta(seconds=30)


async def test_a_process_only_changes_its_own_row(store: SqliteStore) -> None:
    """A daemon refused for the account must never overwrite the holder's row."""
    await store.claim_daemon(7, os.getpid() + 1, "host-a", T0)  # another process holds it
    await store.set_daemon_status(7, "stopped", T0 + dt.timedelta(hours=1))
    await store.daemon_heartbeat(7, T0 + dt.timedelta(hours=1))
    row = await store.daemon(7)
    assert row is not None and row.status == "starting" and row.heartbeat_at == T0


async def test_an_older_database_read_without_migrating_has_no_daemon(db_path: Path) -> None:
    async with SqliteStore(db_path) as s:
        await s.write("DROP TABLE daemons")  # what a version-3 file looks like
    async with SqliteStore(db_path, readonly=True) as reader:
        assert await reader.daemon(7) is None
