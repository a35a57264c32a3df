"""`rmdsl run` as a subprocess on the simulated gateway: enforce, persist, SIGTERM -> exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from unittest.mock import AsyncMock, MagicMock

import httpx
import pytest

from rmdsl.broker.simgateway import SimGateway
from rmdsl.cli import main
from rmdsl.daemon import Daemon
from rmdsl.enforce.recording_broker import RecordingBroker
from rmdsl.notify import CollectingNotifier
from rmdsl.store import SqliteStore
from rmdsl.store.lock import AccountLock, AlreadyRunningError
from rmdsl.tooling.memory_store import MemoryStore

SHIPPED = Path(__file__).resolve().parents[2] / "rulesets" / "topstep.yaml"

RULESET = """\
rmdsl: 1
name: run-e2e
params:
  max_mnq: 2
rules:
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
"""
RMDSL = [sys.executable, "-m", "rmdsl"]


@pytest.fixture
async def gw() -> AsyncIterator[SimGateway]:
    async with SimGateway() as gateway:
        yield gateway


def run_env(gw: SimGateway, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "RMDSL_"))}
    env.update(gw.sdk_env())
    env.update(extra)
    return env


async def stopped(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes, str]:
    """SIGTERM the daemon and collect its output (killed if it outlives 15 s); the stderr
    text is returned decoded as well, for the assertions on the log."""
    try:
        with contextlib.suppress(ProcessLookupError):  # it may have died already
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            stdout, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return stdout, stderr, stderr.decode()


async def wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def dashboard_url(log: Path) -> str:
    """The page's address, from the daemon's JSON log ("dashboard on http://...")."""
    found: list[str] = []

    def logged() -> bool:
        for line in log.read_text().splitlines() if log.exists() else []:
            msg = json.loads(line)["msg"]
            if msg.startswith("dashboard on "):
                found.append(msg.removeprefix("dashboard on "))
        return bool(found)

    await wait_for(logged, 10, "the dashboard's address in the log")
    return found[0]


@pytest.mark.e2e
@pytest.mark.slow
async def test_run_enforces_persists_and_stops_on_sigterm(gw: SimGateway, tmp_path: Path) -> None:
    ruleset = tmp_path / "rules.yaml"
    ruleset.write_text(RULESET, encoding="utf-8")
    state = tmp_path / "state" / "state.db"
    proc = await asyncio.create_subprocess_exec(
        *RMDSL,
        "run",
        "--ruleset",
        str(ruleset),
        "--account",
        "PRAC-SIM-1",
        "--state",
        str(state),
        "--log-format",
        "json",
        "--log-file",
        str(tmp_path / "daemon.log"),
        "--dashboard-port",
        "0",  # a free port, named in the log
        env=run_env(gw),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # the daemon is live once its start-up reconcile asked for today's trades (60 s: it
        # took over 20 s to start on a loaded machine)
        await wait_for(lambda: gw.requests.calls("/Trade/search"), 60, "the daemon to start")
        await asyncio.sleep(0.3)
        gw.trader_place("MNQ", "buy", "market", 4)
        await gw.requests.wait_for("/Position/partialCloseContract", count=1, timeout=10)
        await wait_for(lambda: gw.position_size("MNQ") == 2, 5, "MNQ reduced to 2")
        page = await dashboard_url(tmp_path / "daemon.log")
        fired = 'rmdsl_firings_total{account="PRAC-SIM-1",rule="mnq_contracts"} 1.0'
        async with httpx.AsyncClient(timeout=10) as client:
            health = await client.get(page + "healthz")
            deadline = time.monotonic() + 10  # the record is written once the call returned
            while fired not in (await client.get(page + "metrics")).text:
                assert time.monotonic() < deadline, "no firing in /metrics"
                await asyncio.sleep(0.05)
        assert (health.status_code, health.json()["reconciled"]) == (200, True)
    finally:
        stdout, _, log = await stopped(proc)
    assert proc.returncode == 0, log
    assert stdout == b"", "the daemon keeps stdout clean (logs go to stderr)"
    assert '"msg": "daemon stopped"' in log
    lines = (tmp_path / "daemon.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"ts", "level", "logger", "msg"} <= set(records[0])
    assert any(r["level"] == "warning" and "SIGTERM" in r["msg"] for r in records)
    with sqlite3.connect(state) as db:
        rows = db.execute("SELECT rule_name, action, outcome FROM enforcement_history").fetchall()
        versions = db.execute("SELECT name FROM ruleset_versions").fetchall()
    assert ("mnq_contracts", "reduce_position(to=2)", "ok") in rows
    assert ("run-e2e",) in versions


def test_run_without_credentials_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PROJECT_X_API_KEY", raising=False)
    monkeypatch.delenv("PROJECT_X_USERNAME", raising=False)
    assert main(["run", "--account", "X"]) == 2
    assert "PROJECT_X_API_KEY and PROJECT_X_USERNAME" in capsys.readouterr().err


def test_run_with_an_invalid_ruleset_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rmdsl: 1\nname: bad\nrules:\n  no_stop_loss_grace:\n    enabled: false\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PROJECT_X_API_KEY", "k" * 20)
    monkeypatch.setenv("PROJECT_X_USERNAME", "u")
    # no gateway at all: the ruleset is refused before any connection is tried
    rc = main(["run", "--account", "X", "--ruleset", str(bad), "--state", str(tmp_path / "s.db")])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"{bad}:5:" in err
    assert "did not start" in err
    assert not (tmp_path / "s.db").exists()


async def test_the_daemon_times_reconciliation_from_before_the_snapshot_fetch(
    tmp_path: Path,
) -> None:
    """Regression: the reconciliation_ms metric left out the snapshot fetch."""
    broker = RecordingBroker()
    fetched_at: list[int] = []

    async def snapshot() -> object:
        fetched_at.append(time.perf_counter_ns())
        return MagicMock(positions=(), open_orders=(), trades_today=())

    broker.snapshot = snapshot  # type: ignore[assignment,method-assign]
    daemon = Daemon(tmp_path / "r.yaml", broker, MemoryStore(), CollectingNotifier())
    engine = MagicMock(reconcile=AsyncMock(return_value=[]))
    daemon.primary.engine = engine  # type: ignore[union-attr]
    await daemon._reconcile("test")
    started_ns = engine.reconcile.await_args.kwargs["started_ns"]
    assert started_ns <= fetched_at[0]
    assert len(daemon.reconcile_ms) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("where", "says"), [("dir", "it is a directory"), ("file", "is a file")])
def test_run_on_a_state_path_that_cannot_be_a_database_is_a_clean_error(
    tmp_path: Path, where: str, says: str
) -> None:
    """Regression: `--state DIR` ended in an "Event loop is closed" thread traceback."""
    (tmp_path / "file").write_text("x")
    state = tmp_path if where == "dir" else tmp_path / "file" / "state.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "RMDSL_"))}
    env.update(PROJECT_X_API_KEY="k" * 20, PROJECT_X_USERNAME="u")
    done = subprocess.run(
        [*RMDSL, "run", "--account", "X", "--ruleset", str(SHIPPED), "--state", str(state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"rmdsl run: error: state database {state}: cannot open:" in done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr


async def test_a_daemon_refused_by_the_account_lock_enforces_and_records_nothing(
    tmp_path: Path,
) -> None:
    ruleset, state, locks = tmp_path / "rules.yaml", tmp_path / "state.db", tmp_path / "locks"
    ruleset.write_text(RULESET, encoding="utf-8")
    first = AccountLock(0, locks, "/srv/first/state.db")  # RecordingBroker's account is 0
    await first.acquire()
    broker = RecordingBroker()
    daemon = Daemon(
        ruleset, broker, SqliteStore(state), CollectingNotifier(), reload=False, lock_dir=locks
    )
    try:
        with pytest.raises(AlreadyRunningError, match=r"\(state database /srv/first/state.db\)"):
            await daemon.start()
    finally:
        first.release()
    assert [c.method for c in broker.calls] == ["connect", "disconnect"]  # no snapshot, no order
    assert daemon.engine is None and not daemon.claim.held
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM daemons").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM ruleset_versions").fetchone() == (0,)
