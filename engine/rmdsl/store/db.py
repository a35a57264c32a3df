"""The SQLite connection of the state store: open (WAL, pragmas, migrations), transactions, errors.

Every sqlite3 error leaving this module is a rmdsl.errors.StoreError with a message a
person can act on (locked, corrupt, unwritable), never a bare sqlite3 traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from rmdsl.errors import StoreError
from rmdsl.lifecycle import Service
from rmdsl.store import schema
from rmdsl.store.codec import ts_out
from rmdsl.store.lock import describe_writers

log = logging.getLogger(__name__)

Params = Sequence[Any]
Row = sqlite3.Row
BUSY_TIMEOUT_MS = 5_000
# at open, a lock held by another process is found out within this, not after N x 5 s
OPEN_BUSY_TIMEOUT_MS = 1_000
# while the file is known to be locked, a write gives up after this (and is alerted)
LOCKED_BUSY_TIMEOUT_MS = 100
CACHE_KIB = 1_024


# the environment variables naming the state database, first set wins (STATE_DB: older name)
STATE_ENV = ("RMDSL_STATE", "RMDSL_STATE_DB")


def default_path() -> Path:
    """$RMDSL_STATE (or $RMDSL_STATE_DB) when set, else ~/.risk_manager/state.db."""
    env = next((os.environ[n] for n in STATE_ENV if os.environ.get(n)), None)
    return Path(env).expanduser() if env else Path.home() / ".risk_manager" / "state.db"


# SQLite primary result codes (sqlite3.h): the hint is chosen by the error's kind, never by
# words of its message, which also holds the path (a path may well contain "locked")
_BUSY = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_ACCESS = {3, 8, 14}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN
_FULL = {13}  # SQLITE_FULL
_ERRNO_ACCESS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST}
_IOERR = {10}  # SQLITE_IOERR
# what a retry can outlive: a lock released, space freed, a disk back, a mount writable again
_TRANSIENT = _BUSY | _FULL | _IOERR | {8, 14}  # + SQLITE_READONLY, SQLITE_CANTOPEN
_ERRNO_TRANSIENT = {errno.ENOSPC, errno.EIO, errno.EROFS}


def is_transient(exc: BaseException) -> bool:
    """A sqlite3/OS error that may go away by itself, from its result code or errno."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _TRANSIENT
    return isinstance(exc, OSError) and exc.errno in _ERRNO_TRANSIENT


def hint_for(path: Path, exc: BaseException) -> str:
    """The `help:` line for a sqlite3/OS error, from its result code or errno."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    err = exc.errno if isinstance(exc, OSError) else None
    if primary in _BUSY:
        return "another process holds the database (is a second `rmdsl run` active?)"
    if primary in _DAMAGED:
        return (
            f"the file is damaged; stop rmdsl and restore the newest backup from "
            f"{path.parent / 'backups'} (see docs/operations.md, 'Crash recovery')"
        )
    if primary in _FULL or err == errno.ENOSPC:
        return f"the disk holding {path.parent} is full: free some space"
    if primary in _ACCESS or err in _ERRNO_ACCESS:
        return (
            f"{path} must be a file (or not exist yet) in a directory this user can write; "
            "pass --state PATH to use another one"
        )
    return "see docs/operations.md, 'State database'"


def explain(path: Path, action: str, exc: BaseException) -> StoreError:
    """A sqlite3/OS error -> a StoreError that says what happened and what to do."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StoreError(
        f"state database {path}: cannot {action}: {text}\n  help: {hint_for(path, exc)}",
        transient=is_transient(exc),
    )


class Database(Service):
    """One aiosqlite connection; writes are serialised so a transaction is never interleaved."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        readonly: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        open_busy_timeout_ms: int = OPEN_BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.readonly = readonly
        self.busy_timeout_ms = busy_timeout_ms
        self.open_busy_timeout_ms = open_busy_timeout_ms
        # set when open found another process holding the write lock: who, if known
        self.locked_by: str | None = None
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._wrote = False  # only a connection that wrote checkpoints at close

    async def start(self) -> None:
        """`async with` opens the database (rmdsl.lifecycle.Service) ..."""
        await self.open()

    async def stop(self) -> None:
        """... and closes it, also on an error."""
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
                wait = min(self.open_busy_timeout_ms, self.busy_timeout_ms)
                await db.execute(f"PRAGMA busy_timeout = {int(wait)}")
                self.locked_by = await self._probe_write(db)
                timeout = LOCKED_BUSY_TIMEOUT_MS if self.locked_by else self.busy_timeout_ms
                await db.execute(f"PRAGMA busy_timeout = {int(min(timeout, self.busy_timeout_ms))}")
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
        if self.path.is_dir():
            raise StoreError(
                f"state database {self.path}: cannot open: it is a directory\n"
                f"  help: pass the path of a file, e.g. {self.path / 'state.db'}"
            )
        conn = aiosqlite.connect(target, uri=self.readonly, isolation_level=None)
        try:
            return await conn
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread with a future nobody awaits: let the thread
            # end while this loop still runs, or at exit it fails with "Event loop is closed"
            thread = getattr(conn, "_thread", None)
            if thread is not None:
                await asyncio.to_thread(thread.join, 5.0)
            raise explain(self.path, "open", exc) from None

    def _make_parent(self) -> None:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise StoreError(
                f"state database {self.path}: cannot open: {parent} is a file, not a directory\n"
                "  help: pass --state PATH with a path inside a directory"
            )
        try:
            if not parent.exists():
                parent.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise explain(self.path, "create its directory", exc) from None

    async def _configure(self, db: aiosqlite.Connection) -> None:
        db.row_factory = sqlite3.Row
        # the full busy wait while the file is set up: processes opening a fresh file switch
        # it to WAL and migrate it one after another, and waiting for the others' set-up is
        # not "held by another daemon" (the short wait applies to _probe_write only)
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
        """Apply the missing migrations; safe while another process migrates the same file.

        The applied versions are read again after BEGIN IMMEDIATE has taken the write
        lock: two daemons started at once on a fresh file would otherwise both see a
        migration missing and the second would fail on it ("duplicate column name").
        """
        await db.execute(schema.CREATE_MIGRATIONS_TABLE)  # IF NOT EXISTS: safe to race
        applied = await self._applied_versions(db)
        if applied and max(applied) > schema.LATEST:
            raise _newer(self.path, max(applied))
        missing = [(v, script) for v, script in schema.MIGRATIONS if v not in applied]
        if missing:
            await self._apply(db, missing)

    async def _apply(self, db: aiosqlite.Connection, missing: list[tuple[int, str]]) -> None:
        for version, script in missing:
            await db.execute("BEGIN IMMEDIATE")
            try:
                applied = await self._applied_versions(db)
                if version not in applied:
                    for statement in schema.statements(script):
                        await db.execute(statement)
                    await db.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        (version, ts_out(dt.datetime.now(dt.UTC))),
                    )
                    self._wrote = True
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def _probe_write(self, db: aiosqlite.Connection) -> str | None:
        """None when this connection can write now; else who holds the lock (if known)."""
        try:
            await db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _BUSY:
                raise
            return describe_writers(self.path) or "another process (not known which)"
        await db.execute("ROLLBACK")
        return None

    async def _wrote_ok(self, db: aiosqlite.Connection) -> None:
        """A write went through: if the file was locked at open, it is not any more."""
        self._wrote = True
        if self.locked_by is not None:
            self.locked_by = None
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            log.warning("state database %s: writable again", self.path)

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
            if self._wrote:
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
                await self._wrote_ok(db)
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
                await self._wrote_ok(db)
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
    return StoreError(
        f"state database {path}: cannot open: schema version {version} is newer than this "
        f"rmdsl ({schema.LATEST})\n  help: upgrade rmdsl, or pass --state PATH to use another file"
    )
