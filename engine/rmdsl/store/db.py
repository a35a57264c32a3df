"""The SQLite connection of the state store: open (WAL, pragmas, migrations), transactions, errors.

Every sqlite3 error leaving this module is a rmdsl.errors.StoreError with a message a
person can act on (locked, corrupt, unwritable), never a bare sqlite3 traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from rmdsl.errors import StoreError
from rmdsl.store import schema
from rmdsl.store.codec import ts_out

Params = Sequence[Any]
Row = sqlite3.Row
BUSY_TIMEOUT_MS = 5_000
CACHE_KIB = 1_024


# the environment variables naming the state database, first set wins (STATE_DB: older name)
STATE_ENV = ("RMDSL_STATE", "RMDSL_STATE_DB")


def default_path() -> Path:
    """$RMDSL_STATE (or $RMDSL_STATE_DB) when set, else ~/.risk_manager/state.db."""
    env = next((os.environ[n] for n in STATE_ENV if os.environ.get(n)), None)
    return Path(env).expanduser() if env else Path.home() / ".risk_manager" / "state.db"


def explain(path: Path, action: str, exc: BaseException) -> StoreError:
    """A sqlite3/OS error -> a StoreError that says what happened and what to do."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        hint = "another process holds the database (is a second `rmdsl run` active?)"
    elif "not a database" in low or "malformed" in low or "corrupt" in low:
        hint = (
            f"the file is damaged; stop rmdsl and restore the newest backup from "
            f"{path.parent / 'backups'} (see docs/operations.md, 'Crash recovery')"
        )
    elif "readonly" in low or "unable to open" in low or "permission" in low:
        hint = f"check that {path.parent} exists and is writable by this user"
    elif "newer" in low:
        hint = "upgrade rmdsl, or point --state-db at another file"
    else:
        hint = "see docs/operations.md, 'State database'"
    return StoreError(f"state database {path}: cannot {action}: {text}\n  help: {hint}")


class Database:
    """One aiosqlite connection; writes are serialised so a transaction is never interleaved."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        readonly: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.readonly = readonly
        self.busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self) -> None:
        if self._db is not None:
            return
        db = await self._connect()
        try:
            await self._configure(db)
            if not self.readonly:
                await self._migrate(db)
            else:
                await self._check_version(db)
        except sqlite3.Error as exc:
            await db.close()
            raise explain(self.path, "open", exc) from None
        except StoreError:
            await db.close()
            raise
        self._db = db

    async def _connect(self) -> aiosqlite.Connection:
        if self.readonly:
            if not self.path.exists():
                raise StoreError(
                    f"no state database at {self.path}\n"
                    "  help: it is created by `rmdsl run` / `rmdsl demo`; pass --state-db to "
                    "read another one"
                )
            target = f"{self.path.resolve().as_uri()}?mode=ro"
        else:
            self._make_parent()
            target = str(self.path)
        try:
            return await aiosqlite.connect(target, uri=self.readonly, isolation_level=None)
        except sqlite3.Error as exc:
            raise explain(self.path, "open", exc) from None

    def _make_parent(self) -> None:
        parent = self.path.parent
        try:
            if not parent.exists():
                parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise explain(self.path, "create its directory", exc) from None

    async def _configure(self, db: aiosqlite.Connection) -> None:
        db.row_factory = sqlite3.Row
        await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        await db.execute("PRAGMA foreign_keys = ON")
        if not self.readonly:
            mode = await db.execute_fetchall("PRAGMA journal_mode = WAL")
            if next(iter(mode))[0].lower() != "wal":
                raise StoreError(f"state database {self.path}: cannot switch to WAL journaling")
            # FULL: a committed lockout, timer or trade survives power loss, not only a crash
            await db.execute("PRAGMA synchronous = FULL")
            # the daemon appends and rarely reads: a 1 MiB page cache (SQLite's default is
            # 2 MiB) keeps its RSS flat sooner as the day's rows grow (docs/performance.md)
            await db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        await db.execute(schema.CREATE_MIGRATIONS_TABLE)
        applied = await self._applied_versions(db)
        if applied and max(applied) > schema.LATEST:
            raise _newer(self.path, max(applied))
        for version, script in schema.MIGRATIONS:
            if version in applied:
                continue
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in schema.statements(script):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, ts_out(dt.datetime.now(dt.UTC))),
                )
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def _check_version(self, db: aiosqlite.Connection) -> None:
        applied = await self._applied_versions(db)
        if not applied:
            raise StoreError(f"state database {self.path}: not an rmdsl state database")
        if max(applied) > schema.LATEST:
            raise _newer(self.path, max(applied))

    @staticmethod
    async def _applied_versions(db: aiosqlite.Connection) -> set[int]:
        tables = await db.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if not list(tables):
            return set()
        rows = await db.execute_fetchall("SELECT version FROM schema_migrations")
        return {int(r[0]) for r in rows}

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        try:
            if not self.readonly:
                # fold the WAL back into the main file so a copied state.db is complete
                await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # the WAL stays valid; the next open replays it
        finally:
            await db.close()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError(f"state database {self.path} is not open (use `async with`)")
        return self._db

    async def write(self, sql: str, params: Params = ()) -> int:
        """One statement in its own transaction, committed on return; the changed row count."""
        db = self._conn()
        async with self._lock:
            try:
                cursor = await db.execute(sql, params)
                count = cursor.rowcount
                await cursor.close()
            except sqlite3.Error as exc:
                raise explain(self.path, "write", exc) from None
        return count

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Several statements committed together (or not at all) before the block returns."""
        db = self._conn()
        async with self._lock:
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise explain(self.path, "write", exc) from None
            try:
                yield db
                await db.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback(db)
                raise explain(self.path, "write", exc) from None
            except BaseException:
                await self._rollback(db)
                raise

    async def _rollback(self, db: aiosqlite.Connection) -> None:
        try:
            await db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left to roll back: SQLite already did it

    async def write_many(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as db:
            await db.executemany(sql, rows)

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        db = self._conn()
        try:
            return list(await db.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise explain(self.path, "read", exc) from None

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None


def _newer(path: Path, version: int) -> StoreError:
    return explain(
        path,
        "open",
        RuntimeError(f"schema version {version} is newer than this rmdsl ({schema.LATEST})"),
    )
