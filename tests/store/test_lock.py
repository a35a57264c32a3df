"""One daemon per account: the account lock (flock) refuses a second holder, survives kill -9."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rmdsl.errors import StoreError
from rmdsl.store.lock import AccountLock, AlreadyRunningError, lock_path, probe

HOLD = """
import asyncio, sys
from pathlib import Path
from rmdsl.store.lock import AccountLock
asyncio.run(AccountLock(42, Path(sys.argv[1]), "/elsewhere/state.db").acquire())
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def locks(tmp_path: Path) -> Path:
    return tmp_path / "locks"


async def test_a_second_lock_on_the_account_is_refused_naming_the_holder(locks: Path) -> None:
    first = AccountLock(42, locks, "/srv/a/state.db")
    await first.acquire()
    try:
        with pytest.raises(AlreadyRunningError) as refused:
            await AccountLock(42, locks, "/srv/b/state.db").acquire()
        other = AccountLock(43, locks)
        await other.acquire()  # another account is not affected
        other.release()
    finally:
        first.release()
    text = str(refused.value)
    assert f"account 42 is already enforced by rmdsl pid {os.getpid()}" in text
    assert "running since" in text and "(state database /srv/a/state.db)" in text
    assert str(lock_path(42, locks)) in text and isinstance(refused.value, StoreError)


async def test_release_lets_the_next_daemon_in_and_probe_follows(locks: Path) -> None:
    assert probe(42, locks) is False  # never locked: no file
    lock = AccountLock(42, locks, "/srv/a/state.db")
    me = await lock.acquire()
    assert probe(42, locks) == me
    lock.release()
    assert probe(42, locks) is False
    again = AccountLock(42, locks)
    await again.acquire()
    again.release()


def test_the_lock_of_a_killed_process_is_taken_over(locks: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(locks)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        held = probe(42, locks)
        assert not isinstance(held, bool) and held.pid == holder.pid
        with pytest.raises(AlreadyRunningError, match=f"pid {holder.pid}"):
            asyncio.run(AccountLock(42, locks).acquire())
        holder.send_signal(signal.SIGKILL)  # no clean-up: the file still names it
        holder.wait()
    assert f'"pid": {holder.pid}' in lock_path(42, locks).read_text()  # stale content
    assert probe(42, locks) is False
    successor = AccountLock(42, locks, "/srv/new.db")
    me = asyncio.run(successor.acquire())
    assert me.pid == os.getpid() and probe(42, locks) == me
    successor.release()


async def test_a_status_probe_holding_the_lock_for_an_instant_does_not_refuse(
    locks: Path,
) -> None:
    path = lock_path(42, locks)
    path.parent.mkdir(parents=True)
    path.touch()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # what `rmdsl status` does while it looks
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, os.close, fd)
    lock = AccountLock(42, locks)
    await lock.acquire()
    lock.release()


async def test_an_unwritable_lock_directory_is_a_located_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"account lock .*: cannot open") as error:
        await AccountLock(42, blocker / "locks").acquire()
    assert "RMDSL_LOCK_DIR" in str(error.value)
