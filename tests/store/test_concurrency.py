"""Other processes on the same state database: concurrent migration, a lock held at open."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiosqlite
import pytest
from store_records import lockout

from rmdsl.errors import StoreError
from rmdsl.store import SqliteStore, schema
from rmdsl.store.db import BUSY_TIMEOUT_MS, LOCKED_BUSY_TIMEOUT_MS, Database


class Raced(Database):
    """Reads the applied versions, then lets `rival` migrate the file before going on."""

    def __init__(self, path: Path, rival: Database) -> None:
        super().__init__(path)
        self.rival = rival
        self.reads = 0

    async def _applied_versions(self, db: aiosqlite.Connection) -> set[int]:  # type: ignore[override]
        versions = await Database._applied_versions(db)
        self.reads += 1
        if self.reads == 1:
            async with self.rival:
                pass  # the rival applies every migration while we hold a stale answer
        return versions


async def test_a_migration_raced_by_another_connection_is_not_applied_twice(
    db_path: Path,
) -> None:
    """Regression: two daemons started at once failed with "duplicate column name"."""
    db_path.parent.mkdir(parents=True)
    raced = Raced(db_path, Database(db_path))
    async with raced:
        versions = await raced.fetch("SELECT version FROM schema_migrations ORDER BY 1")
    assert [v[0] for v in versions] == [n for n, _ in schema.MIGRATIONS]


MIGRATE = """
import asyncio, sys, time
from pathlib import Path
from rmdsl.store import SqliteStore
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.002)
async def main():
    async with SqliteStore(sys.argv[1]) as s:
        print(len(await s.fetch("SELECT version FROM schema_migrations")))
asyncio.run(main())
"""


def test_processes_migrating_a_fresh_database_at_once_all_succeed(tmp_path: Path) -> None:
    db, go = tmp_path / "state.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, str(db), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for proc in procs:  # each has imported rmdsl and waits at the start line
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    go.touch()  # now all of them find the fresh file without any migration applied
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == str(len(schema.MIGRATIONS))


HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held(db_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A migrated database whose write lock another process holds until stdin closes."""

    async def create() -> None:
        async with SqliteStore(db_path):
            pass

    asyncio.run(create())
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        yield holder
        assert holder.stdin is not None
        holder.stdin.close()


async def _busy_timeout(store: SqliteStore) -> int:
    row = await store.fetch_one("PRAGMA busy_timeout")
    assert row is not None
    return int(row[0])


async def test_a_lock_held_at_open_is_found_with_its_holder_and_writes_fail_fast(
    db_path: Path, held: subprocess.Popen[bytes]
) -> None:
    async with SqliteStore(db_path) as store:
        assert store.locked_by is not None and f"pid {held.pid} (" in store.locked_by
        assert await _busy_timeout(store) == LOCKED_BUSY_TIMEOUT_MS
        with pytest.raises(StoreError, match="another process holds the database"):
            await store.add_lockout(lockout())
        assert held.stdin is not None
        held.stdin.close()
        held.wait()
        await store.add_lockout(lockout())  # the lock is gone: writes work again
        assert store.locked_by is None
        assert await _busy_timeout(store) == BUSY_TIMEOUT_MS


async def test_an_unlocked_database_opens_with_the_normal_busy_timeout(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        assert store.locked_by is None
        assert await _busy_timeout(store) == BUSY_TIMEOUT_MS


async def test_a_refused_open_leaves_no_worker_thread_behind(tmp_path: Path) -> None:
    """Regression: `--state` on a bad path ended in an "Event loop is closed" thread traceback."""
    dangling = tmp_path / "state.db"
    dangling.symlink_to(tmp_path / "missing" / "state.db")  # sqlite cannot create it
    with pytest.raises(StoreError, match="cannot open"):
        async with SqliteStore(dangling):
            pass
    workers = [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
    assert workers == []
