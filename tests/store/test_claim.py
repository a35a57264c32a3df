"""AccountClaim: the lock plus the `daemons` row, which also catches a daemon locking elsewhere."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from store_records import T0

from rmdsl.notify import CollectingNotifier
from rmdsl.store import SqliteStore
from rmdsl.store.claim import AccountClaim
from rmdsl.store.lock import AlreadyRunningError, probe

# a stand-in daemon: alive, and "rmdsl" on its command line
LIVE = "import sys  # rmdsl run\nprint('up', flush=True)\nsys.stdin.read()"


async def test_a_live_daemon_of_the_database_is_refused_whatever_its_lock_dir(
    db_path: Path, tmp_path: Path
) -> None:
    locks = tmp_path / "my-locks"
    with subprocess.Popen(
        [sys.executable, "-c", LIVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as other:
        assert other.stdout is not None and other.stdout.readline() == b"up\n"
        async with SqliteStore(db_path) as store:
            await store.claim_daemon(7, other.pid, socket.gethostname(), T0)
            claim = AccountClaim(store, CollectingNotifier(), locks)
            with pytest.raises(AlreadyRunningError) as refused:
                await claim.acquire(7)
            assert not claim.held and probe(7, locks) is False  # our lock was let go
        assert other.stdin is not None
        other.stdin.close()
    text = str(refused.value)
    assert f"rmdsl pid {other.pid}" in text and "another lock directory" in text
    async with SqliteStore(db_path) as store:  # that process has ended: taken over
        claim = AccountClaim(store, CollectingNotifier(), locks)
        await claim.acquire(7)
        row = await store.daemon(7)
        claim.release()
    assert row is not None and row.pid == os.getpid() and row.status == "starting"


async def test_a_recycled_pid_or_a_stopped_daemon_does_not_block(
    db_path: Path, tmp_path: Path
) -> None:
    async with SqliteStore(db_path) as store:
        await store.claim_daemon(7, 1, socket.gethostname(), T0)  # pid 1 lives, not rmdsl
        await store.claim_daemon(8, os.getppid(), socket.gethostname(), T0)
        await store.write("UPDATE daemons SET status = 'stopped' WHERE account_id = 8")
        for account in (7, 8):
            claim = AccountClaim(store, CollectingNotifier(), tmp_path / "locks")
            await claim.acquire(account)
            claim.release()


async def test_without_a_lock_dir_nothing_is_locked_or_written(db_path: Path) -> None:
    async with SqliteStore(db_path) as store:
        claim = AccountClaim(store, CollectingNotifier(), None)
        await claim.acquire(7)
        await claim.set_status("running")
        assert not claim.held and await store.daemon(7) is None
