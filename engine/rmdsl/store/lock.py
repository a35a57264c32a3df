"""One daemon per account: an flock on `<lock dir>/account-<id>.lock` held for the daemon's life.

The kernel drops an flock when its process dies, kill -9 included, so a stale
lock never blocks a restart. The file's content (pid, host, since, state
database) names the holder to a refused second daemon and to `rmdsl status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from rmdsl.errors import StoreError

LOCK_ENV = "RMDSL_LOCK_DIR"
# a `rmdsl status` probe holds the lock shared for microseconds: retry before refusing
ATTEMPTS = 10
RETRY_S = 0.05


def default_lock_dir() -> Path:
    """$RMDSL_LOCK_DIR when set, else ~/.risk_manager/locks (one per user of the machine)."""
    env = os.environ.get(LOCK_ENV)
    return Path(env).expanduser() if env else Path.home() / ".risk_manager" / "locks"


def lock_path(account_id: int, lock_dir: Path | None = None) -> Path:
    return (lock_dir or default_lock_dir()) / f"account-{account_id}.lock"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or last held) an account's lock."""

    pid: int
    host: str
    since: dt.datetime
    state: str  # the state database that daemon writes

    def describe(self) -> str:
        since = self.since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        where = f"pid {self.pid} on host {self.host}" if self.host else f"pid {self.pid}"
        return f"rmdsl {where}, running since {since} (state database {self.state or '?'})"

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "host": self.host,
                "since": self.since.isoformat(),
                "state": self.state,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(
                int(data["pid"]),
                str(data["host"]),
                dt.datetime.fromisoformat(data["since"]),
                str(data["state"]),
            )
        except (ValueError, KeyError, TypeError):
            return None  # empty (the holder is between flock and write) or foreign content


class AlreadyRunningError(StoreError):
    """Another daemon holds the account's lock: this one must not enforce."""


class AccountLock:
    """`await lock.acquire()` ... `lock.release()`; refuses with AlreadyRunningError."""

    def __init__(self, account_id: int, lock_dir: Path | None = None, state: str = "") -> None:
        self.account_id = account_id
        self.path = lock_path(account_id, lock_dir)
        self.state = state
        self.holder: Holder | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    async def acquire(self) -> Holder:
        """Take the lock (retrying briefly past a status probe); the Holder we now are."""
        fd = self._open()
        try:
            for attempt in range(ATTEMPTS):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if attempt == ATTEMPTS - 1:
                        raise self.refusal(await _read_holder(fd)) from None
                    await asyncio.sleep(RETRY_S)
            me = Holder(os.getpid(), socket.gethostname(), dt.datetime.now(dt.UTC), self.state)
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.to_json().encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self.holder = fd, me
        return me

    def release(self) -> None:
        """Empty the file (nobody holds it now) and let go; the kernel does it on a crash."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"account lock {self.path}: cannot open: {exc.strerror or exc}\n"
                f"  help: the lock directory must be writable by this user; set {LOCK_ENV} "
                "to put it elsewhere"
            ) from None

    def refusal(self, holder: Holder | None, why: str = "") -> AlreadyRunningError:
        who = holder.describe() if holder else "another process (it has not said who yet)"
        stop = f"`kill -TERM {holder.pid}`" if holder else "stop it"
        return AlreadyRunningError(
            f"account {self.account_id} is already enforced by {who}{why and '; ' + why}\n"
            f"  help: one daemon per account: {stop} first, or run this one on another account "
            f"(lock file {self.path}; a killed daemon releases it by itself)"
        )


async def _read_holder(fd: int) -> Holder | None:
    """The holder's record; the winner writes it right after its flock, so wait a moment."""
    for _ in range(ATTEMPTS):
        holder = Holder.from_json(os.pread(fd, 4096, 0).decode(errors="replace"))
        if holder is not None:
            return holder
        await asyncio.sleep(RETRY_S)
    return None


def probe(account_id: int, lock_dir: Path | None = None) -> Holder | bool:
    """Is a daemon enforcing the account on this machine? Its Holder, or False when none.

    True: a daemon holds the lock but its record is unreadable. The probe takes the
    lock shared for an instant, which a starting daemon retries past.
    """
    path = lock_path(account_id, lock_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False  # no lock file: no daemon ever ran here with this lock directory
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.from_json(os.pread(fd, 4096, 0).decode(errors="replace")) or True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def is_rmdsl(pid: int) -> bool:
    """Is `pid` alive and an rmdsl process (a recycled pid of another program is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    try:
        return b"rmdsl" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs: trust the live pid
    except OSError:
        return True


# ---- who holds an SQLite file's write lock (Linux /proc/locks; best effort) ----------------
WAL_WRITE_BYTE = 120  # SQLite's WAL write lock: byte 120 of the -shm file


def describe_writers(db_path: Path) -> str | None:
    """`pid 123 (python3 app.py)` for each other process write-locking the database, or None."""
    pids = sorted(set(_writer_pids(db_path)) - {os.getpid()})
    return ", ".join(f"pid {pid} ({_command(pid)})" for pid in pids) or None


def _writer_pids(db_path: Path) -> list[int]:
    files: dict[tuple[int, int, int], bool] = {}
    for path, whole in ((db_path, True), (Path(f"{db_path}-shm"), False)):
        with contextlib.suppress(OSError):
            st = path.stat()
            files[(os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)] = whole
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []  # not Linux: the holder stays unnamed
    pids = []
    for line in lines:
        parts = line.split()
        if len(parts) < 8 or parts[1] != "POSIX" or parts[3] != "WRITE":
            continue  # "->" marks a waiter; flocks and read locks are not SQLite writers
        major, minor, inode = parts[5].split(":")
        main_file = files.get((int(major, 16), int(minor, 16), int(inode)))
        start, end = int(parts[6]), parts[7]
        covers = end == "EOF" or start <= WAL_WRITE_BYTE <= int(end)
        if main_file or (main_file is False and covers):
            pids.append(int(parts[4]))
    return pids


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return text if len(text) <= 80 else text[:77] + "..."
