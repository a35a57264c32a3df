"""Opening the state database: pragmas, migrations, and human errors for bad files."""

from __future__ import annotations

import errno
import sqlite3
import stat
from pathlib import Path

import pytest
from store_records import ACCOUNT, lockout

from rmdsl.errors import StoreError
from rmdsl.store import SqliteStore, default_path, schema
from rmdsl.store.db import explain


async def test_open_creates_private_parent_wal_and_migrations(db_path: Path) -> None:
    async with SqliteStore(db_path) as s:
        mode = await s.fetch_one("PRAGMA journal_mode")
        sync = await s.fetch_one("PRAGMA synchronous")
        cache = await s.fetch_one("PRAGMA cache_size")
        fks = await s.fetch_one("PRAGMA foreign_keys")
        versions = await s.fetch("SELECT version, applied_at FROM schema_migrations")
    assert mode is not None and mode[0] == "wal"
    assert sync is not None and sync[0] == 2  # FULL
    assert cache is not None and cache[0] == -1024  # KiB: bounded, below the 2 MiB default
    assert fks is not None and fks[0] == 1
    assert [v[0] for v in versions] == [n for n, _ in schema.MIGRATIONS]
    assert versions[0][1].endswith("Z")
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


async def test_reopen_does_not_reapply_migrations(db_path: Path) -> None:
    async with SqliteStore(db_path) as s:
        await s.add_lockout(lockout())
    async with SqliteStore(db_path) as s:
        count = await s.fetch_one("SELECT count(*) FROM schema_migrations")
        assert count is not None and count[0] == len(schema.MIGRATIONS)
        assert len(await s.active_lockouts(ACCOUNT)) == 1


async def test_required_tables_exist(store: SqliteStore) -> None:
    found = {r[0] for r in await store.fetch("SELECT name FROM sqlite_master WHERE type='table'")}
    want = {"account_state", "positions", "enforcement_history", "lockouts", "timers", "trades"}
    assert want | {"ruleset_versions", "metrics", "schema_migrations"} <= found


async def test_close_checkpoints_the_wal(db_path: Path) -> None:
    async with SqliteStore(db_path) as s:
        await s.add_lockout(lockout())
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("SELECT count(*) FROM lockouts").fetchone() == (1,)
    finally:
        raw.close()


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with SqliteStore(db_path) as s:
        await s.write("INSERT INTO schema_migrations VALUES (999, 'x')")
    with pytest.raises(StoreError, match="newer than this rmdsl"):
        async with SqliteStore(db_path):
            pass


async def test_corrupt_file_gives_a_human_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(StoreError) as info:
        async with SqliteStore(db_path):
            pass
    text = str(info.value)
    assert "not a database" in text and "restore the newest backup" in text
    assert "Traceback" not in text


async def test_unwritable_location_gives_a_human_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create its directory"):
        async with SqliteStore(blocker / "sub" / "state.db"):
            pass


async def test_locked_database_gives_a_human_error(db_path: Path) -> None:
    async with SqliteStore(db_path, busy_timeout_ms=50) as s:
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreError, match="another process holds the database"):
                await s.add_lockout(lockout())
            other.execute("ROLLBACK")
        finally:
            other.close()
        await s.add_lockout(lockout())  # usable again once the lock is gone
        assert len(await s.active_lockouts()) == 1


async def test_use_after_close_is_a_store_error(db_path: Path) -> None:
    s = SqliteStore(db_path)
    await s.open()
    await s.close()
    await s.close()  # idempotent
    with pytest.raises(StoreError, match="not open"):
        await s.add_lockout(lockout())


async def test_readonly_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no state database"):
        async with SqliteStore(tmp_path / "missing.db", readonly=True):
            pass
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).close()
    with pytest.raises(StoreError, match="not an rmdsl state database"):
        async with SqliteStore(plain, readonly=True):
            pass


async def test_readonly_reads_while_a_writer_is_open(db_path: Path) -> None:
    async with SqliteStore(db_path) as writer:
        await writer.add_lockout(lockout())
        async with SqliteStore(db_path, readonly=True) as reader:
            assert [lk.id for lk in await reader.active_lockouts()] == ["lk-1"]
            with pytest.raises(StoreError, match="readonly"):
                await reader.add_lockout(lockout("lk-2"))


def test_default_path_and_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RMDSL_STATE", raising=False)
    monkeypatch.delenv("RMDSL_STATE_DB", raising=False)
    assert default_path() == Path.home() / ".risk_manager" / "state.db"
    monkeypatch.setenv("RMDSL_STATE_DB", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"
    assert SqliteStore().path == tmp_path / "x.db"
    monkeypatch.setenv("RMDSL_STATE", str(tmp_path / "y.db"))  # the name the CLI documents wins
    assert default_path() == tmp_path / "y.db"


async def test_a_path_saying_locked_is_not_explained_as_a_lock(tmp_path: Path) -> None:
    """Regression: the hint was chosen from words of the message, which holds the path."""
    db_path = tmp_path / "locked-busy" / "state.db"
    db_path.parent.mkdir()
    db_path.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(StoreError) as info:
        async with SqliteStore(db_path):
            pass
    text = str(info.value)
    assert "restore the newest backup" in text
    assert "another process" not in text
    # nor retried by the writer as if the disk were busy: a damaged file does not heal
    assert info.value.transient is False


def test_transience_comes_from_the_error_kind_not_its_text() -> None:
    """The write-behind writer retries a transient failure without end and drops any other
    after a few tries: the path `locked-full` once made a damaged file look transient."""
    path = Path("/x/locked-full/state.db")
    damaged = sqlite3.DatabaseError("file is not a database (locked-full)")
    damaged.sqlite_errorcode = 26  # type: ignore[attr-defined]
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    assert explain(path, "write", damaged).transient is False
    assert explain(path, "write", busy).transient is True
    assert explain(path, "write", OSError(errno.ENOSPC, "No space left")).transient is True


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "is full"),
        (OSError(errno.ENOTDIR, "Not a directory"), "must be a file"),
        (OSError(errno.EIO, "the disk is locked and busy"), "docs/operations.md"),
        (sqlite3.OperationalError("full of locks"), "docs/operations.md"),
    ],
)
def test_the_hint_comes_from_the_errno_or_result_code(error: Exception, hint: str) -> None:
    text = str(explain(Path("/x/locked/state.db"), "write", error))
    assert hint in text and "another process" not in text


def test_sqlite_result_codes_choose_the_hint(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    busy = sqlite3.OperationalError("anything at all")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]  # SQLITE_BUSY
    full = sqlite3.OperationalError("database or disk is locked")  # words mislead
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]  # SQLITE_FULL
    assert "another process holds the database" in str(explain(path, "write", busy))
    assert "is full" in str(explain(path, "write", full))


async def test_a_state_path_that_is_a_directory_or_under_a_file_is_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(StoreError, match="it is a directory"):
        async with SqliteStore(tmp_path):
            pass
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        async with SqliteStore(blocker / "state.db"):
            pass
