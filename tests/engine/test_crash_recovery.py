"""Crash recovery: SIGKILL the engine mid-session, restart it, and nothing decided is lost.

A subprocess (crash_driver.py) runs the real Engine on a SqliteStore with a
scripted session on a virtual clock, until it has recorded a symbol block, a
running NoStopLossGrace timer, a `for:` timer and today's trades; it is then
killed with SIGKILL while it keeps processing quotes. Restarts from copies of
the same database check what comes back. Every wait is bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("crash_driver.py")
T0 = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # Tuesday 09:00 in Chicago
GRACE_KEY = "no_stop_loss_grace|CON.F.US.MNQ.Z26"
FOR_KEY = "long_exposure|account"
WAIT_S = 60.0

RULESET = """\
rmdsl: 1
name: crash-test
timezone: America/Chicago
reset: "17:00"
session: {hours: "08:30..15:10", days: [mon, tue, wed, thu, fri]}
rules:
  es_trade_loss:
    scope: trade
    when: trade.symbol == "ES" and trade.pnl <= -$200
    do: [block_symbol(until: reset)]
    message: "ES trade lost {trade.pnl}"
  long_exposure:
    when: positions.contracts >= 1
    for: 30m
    do: [alert]
  no_stop_loss_grace:
    grace: 2m
"""


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _db_counts(db: Path) -> tuple[int, int, int]:
    """(active lockouts, timers, trades) as another process sees them; zeros before creation."""
    if not db.exists():
        return (0, 0, 0)
    raw = sqlite3.connect(db, timeout=1)
    try:
        q = [
            "SELECT count(*) FROM lockouts WHERE lifted_at IS NULL",
            "SELECT count(*) FROM timers",
            "SELECT count(*) FROM trades",
        ]
        a, b, c = (int(raw.execute(s).fetchone()[0]) for s in q)
        return a, b, c
    except sqlite3.OperationalError:
        return (0, 0, 0)  # tables not migrated yet
    finally:
        raw.close()


def _wait_until(check: Any, proc: subprocess.Popen[bytes], what: str, err: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"driver exited ({proc.returncode}) before {what}:\n{err.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{err.read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the ruleset and the state database of an engine killed mid-session."""
    work = tmp_path_factory.mktemp("crash")
    (work / "rs.yaml").write_text(RULESET)
    db = work / "state.db"
    out, err = work / "feed.out", work / "feed.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "feed", "--db", str(db), "--ruleset",
             str(work / "rs.yaml"), "--now", T0.isoformat()],
            stdout=o,
            stderr=e,
        )  # fmt: skip
        try:
            _wait_until(lambda: '"fed"' in out.read_text(), proc, "the scripted session", err)
            _wait_until(lambda: _db_counts(db) == (1, 2, 3), proc, "the recorded state", err)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    fed = json.loads(out.read_text().splitlines()[0])
    assert fed["calls"] == []  # a symbol block with no ES exposure has nothing to close
    wal = db.with_name("state.db-wal")
    assert wal.exists() and wal.stat().st_size > 0  # killed: no clean checkpoint happened
    return work


def _restore(crashed: Path, tmp_path: Path, now: dt.datetime, *ticks: dt.datetime) -> list[Any]:
    for f in crashed.iterdir():
        if f.name.startswith("state.db") or f.name == "rs.yaml":
            shutil.copy(f, tmp_path / f.name)
    cmd = [sys.executable, str(DRIVER), "restore", "--db", str(tmp_path / "state.db")]
    cmd += ["--ruleset", str(tmp_path / "rs.yaml"), "--now", now.isoformat()]
    for tick in ticks:
        cmd += ["--tick", tick.isoformat()]
    done = subprocess.run(cmd, capture_output=True, timeout=WAIT_S, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def test_restart_restores_lockout_timers_and_pnl(crashed: Path, tmp_path: Path) -> None:
    restored, before, due = _restore(crashed, tmp_path, _at(60), _at(119), _at(120))
    assert restored["kind"] == "restored"
    assert restored["trading_day"] == "2026-11-24"
    assert restored["realized_pnl"] == "-149.75"  # +100.50 - 250.25; the duplicate not counted
    assert restored["trades"] == 2
    assert restored["lockouts"] == [
        {"rule": "es_trade_loss", "symbol": "ES", "until": "2026-11-24 23:00:00+00:00"}
    ]
    assert restored["engine_blocks_es"] is True
    # the timers keep the deadlines they had before the crash
    assert restored["timers"] == {
        GRACE_KEY: str(_at(120)),
        FOR_KEY: str(_at(1800)),
    }
    assert restored["positions"] == ["CON.F.US.MNQ.Z26"]
    assert before["fired"] == [] and before["calls"] == []
    assert due["fired"] == [["no_stop_loss_grace", "close_position", "ok"]]
    assert due["calls"] == ["close_position(CON.F.US.MNQ.Z26)"]


def test_timer_that_expired_while_down_fires_at_once(crashed: Path, tmp_path: Path) -> None:
    now = _at(300)
    restored, first = _restore(crashed, tmp_path, now, now)
    assert restored["timers"][GRACE_KEY] == str(_at(120))
    assert first["fired"] == [["no_stop_loss_grace", "close_position", "ok"]]
    assert first["calls"] == ["close_position(CON.F.US.MNQ.Z26)"]
    assert restored["engine_blocks_es"] is True


def test_restart_after_the_reset_backs_up_and_starts_a_new_day(
    crashed: Path, tmp_path: Path
) -> None:
    now = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)  # Wednesday 09:00 Chicago
    (restored,) = _restore(crashed, tmp_path, now)
    assert restored["trading_day"] == "2026-11-25"
    assert restored["realized_pnl"] == "0" and restored["trades"] == 0
    assert restored["lockouts"] == [] and restored["engine_blocks_es"] is False
    backup = tmp_path / "backups" / "state-2026-11-24.db"
    raw = sqlite3.connect(backup)
    try:
        rows = raw.execute("SELECT trade_id, pnl FROM trades ORDER BY trade_id").fetchall()
        (lifted,) = raw.execute("SELECT lifted_at FROM lockouts").fetchone()
    finally:
        raw.close()
    assert rows == [(100, None), (101, "100.50"), (102, "-250.25")]
    assert lifted is None  # the snapshot is the day as it ended, before the reset lifted it
