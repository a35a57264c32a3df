"""One daemon per account, and a locked state database at start: `rmdsl run` subprocesses.

Each daemon is a real `rmdsl run` on the simulated gateway, with its own
RMDSL_LOCK_DIR under tmp_path so tests never meet a daemon of the machine.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_run import RMDSL, RULESET, gw, run_env, wait_for

from rmdsl.broker.simgateway import SimGateway
from rmdsl.store import SqliteStore

__all__ = ["gw"]  # the fixture, shared with test_run
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ACCOUNT = "PRAC-SIM-1"
RUNNING = "daemon running for account"


class Run:
    """One `rmdsl run` subprocess logging (text) to its own file."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc, self.log = proc, log

    def logged(self, text: str) -> bool:
        return self.log.is_file() and text in self.log.read_text(encoding="utf-8")

    async def finish(self, timeout: float = 30) -> tuple[int, str]:
        async with asyncio.timeout(timeout):
            _, stderr = await self.proc.communicate()
        assert self.proc.returncode is not None
        return self.proc.returncode, stderr.decode()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def runs() -> AsyncIterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:
        await run.kill()


async def start(runs: list[Run], gw: SimGateway, tmp_path: Path, state: Path, name: str) -> Run:
    ruleset = tmp_path / "rules.yaml"
    ruleset.write_text(RULESET, encoding="utf-8")
    args = ["--ruleset", str(ruleset), "--account", ACCOUNT, "--state", str(state), "--no-reload"]
    return await spawn(runs, gw, tmp_path, name, args)


async def spawn(runs: list[Run], gw: SimGateway, tmp_path: Path, name: str, args: list[str]) -> Run:
    """`rmdsl run ARGS` logging to tmp_path/NAME.log, its locks under tmp_path/locks."""
    log = tmp_path / f"{name}.log"
    proc = await asyncio.create_subprocess_exec(
        *RMDSL,
        "run",
        *args,
        "--log-file",
        str(log),
        env=run_env(gw, RMDSL_LOCK_DIR=str(tmp_path / "locks")),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    run = Run(proc, log)
    runs.append(run)
    return run


async def status(state: Path, tmp_path: Path, gw: SimGateway) -> str:
    proc = await asyncio.create_subprocess_exec(
        *RMDSL,
        "status",
        "--state",
        str(state),
        env=run_env(gw, RMDSL_LOCK_DIR=str(tmp_path / "locks")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


def daemon_rows(state: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(state) as db:
        return db.execute("SELECT pid, status FROM daemons").fetchall()


async def test_a_second_daemon_for_the_account_is_refused_naming_the_first(
    gw: SimGateway, tmp_path: Path, runs: list[Run]
) -> None:
    state = tmp_path / "state.db"
    first = await start(runs, gw, tmp_path, state, "first")
    await wait_for(lambda: first.logged(RUNNING), 30, "the first daemon to run")

    same_db = await start(runs, gw, tmp_path, state, "same-db")
    other_db = await start(runs, gw, tmp_path, tmp_path / "other" / "state.db", "other-db")
    for rc, err in await asyncio.gather(same_db.finish(), other_db.finish()):
        assert rc == 2, err
        assert f"is already enforced by rmdsl pid {first.proc.pid}" in err, err
        assert "running since" in err and f"(state database {state})" in err
        assert "Traceback" not in err

    assert first.proc.returncode is None, "the refused daemons left the first one alone"
    assert daemon_rows(state) == [(first.proc.pid, "running")]
    shown = await status(state, tmp_path, gw)
    assert "daemon          running since" in shown and f"pid {first.proc.pid}" in shown
    first.proc.send_signal(signal.SIGTERM)
    rc, err = await first.finish()
    assert rc == 0, err
    assert daemon_rows(state) == [(first.proc.pid, "stopped")]
    assert "not running" in await status(state, tmp_path, gw)


async def test_the_lock_of_a_killed_daemon_is_taken_over(
    gw: SimGateway, tmp_path: Path, runs: list[Run]
) -> None:
    state = tmp_path / "state.db"
    first = await start(runs, gw, tmp_path, state, "first")
    await wait_for(lambda: first.logged(RUNNING), 30, "the first daemon to run")
    await first.kill()  # SIGKILL: no clean-up ran, the lock file still names it

    second = await start(runs, gw, tmp_path, state, "second")
    await wait_for(lambda: second.logged(RUNNING), 30, "the second daemon to run")
    assert daemon_rows(state) == [(second.proc.pid, "running")]
    second.proc.send_signal(signal.SIGTERM)
    rc, err = await second.finish()
    assert rc == 0, err


HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
"""


async def test_a_locked_database_at_start_is_reported_and_the_daemon_runs(
    gw: SimGateway, tmp_path: Path, runs: list[Run]
) -> None:
    """Regression: each start-up write waited out the 5 s busy timeout (41 s to start)."""
    state = tmp_path / "state.db"
    async with SqliteStore(state):
        pass  # an existing, migrated database
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD,
        str(state),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"held\n"
        daemon = await start(runs, gw, tmp_path, state, "daemon")
        # bounded well below one old busy timeout per start-up write
        await wait_for(lambda: daemon.logged(RUNNING), 20, "the daemon to run on a locked db")
        text = daemon.log.read_text(encoding="utf-8")
        reported = text.index("CRITICAL rmdsl.daemon: state database locked")
        assert reported < text.index("connected to ProjectX account"), "reported at open"
        assert f"is locked by pid {holder.pid}" in text
        assert holder.returncode is None, "the lock was held all along"
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        await holder.wait()
    daemon.proc.send_signal(signal.SIGTERM)
    rc, err = await daemon.finish()
    assert rc == 0, err
