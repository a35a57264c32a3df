"""A rule that errors, as the commands show it: `rmdsl replay` reports it as an error of the
rule (exit 1), not as "nothing fired"; `rmdsl status` lists today's rule errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
RECORDING = str(ROOT / "examples/recordings/topstep-session.jsonl")
ERRING = """\
rmdsl: 1
name: erring
timezone: America/Chicago
rules:
  pnl_cents:
    when: day.realized_pnl * 10000000000000000000000000000 % $0.03 > $0
    do: [flatten]
"""


@pytest.fixture
def erring(tmp_path: Path) -> Path:
    path = tmp_path / "erring.yaml"
    path.write_text(ERRING, encoding="utf-8")
    return path


def test_replay_reports_the_rule_error_in_json(
    erring: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--ruleset", str(erring), RECORDING, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    [error] = report["errors"]
    assert error["rule"] == "pnl_cents" and error["part"] == "when"
    assert error["where"] == f"{erring}:6:11"
    assert error["error"] == "InvalidOperation: DivisionImpossible"
    assert error["count"] >= 1 and error["line"] is not None
    assert not any(f["rule"] == "pnl_cents" for f in report["firings"])


def test_replay_text_says_error_not_nothing_fired(
    erring: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--ruleset", str(erring), RECORDING]) == 1
    out = capsys.readouterr().out
    assert (
        f"ERROR rule pnl_cents failed in `when` at {erring}:6:11: "
        "InvalidOperation: DivisionImpossible"
    ) in out
    assert "the rule counts as not fired until it is fixed" in out
    assert "  1 rule(s) failed to evaluate: see ERROR above" in out


@pytest.fixture
async def state_db(erring: Path, tmp_path: Path) -> Path:
    """A state database a real engine wrote while its rule kept failing."""
    import datetime as dt
    from decimal import Decimal

    from rmdsl.contract.events import Side, TradeEvent
    from rmdsl.enforce.recording_broker import RecordingBroker
    from rmdsl.engine.core import Engine
    from rmdsl.notify import CollectingNotifier
    from rmdsl.pipeline import load_ruleset
    from rmdsl.store import SqliteStore

    path = tmp_path / "state.db"
    t0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    broker = RecordingBroker()
    store = SqliteStore(path)
    await store.open()
    engine = Engine(
        load_ruleset(erring), broker, store, CollectingNotifier(), lambda: t0, account_id=7
    )
    broker.state = engine.state
    await engine.start()
    # losing trades at 20 s, 40 s, 60 s, 5 min, 5 min 10 s: reported at 20 s and at 5 min
    # (3 errors), the last one at the stop (1 error): 5 in all, as the metric counts
    for i, seconds in enumerate((20, 40, 60, 300, 310), start=1):
        ts = t0 + dt.timedelta(seconds=seconds)
        trade = TradeEvent(
            i, 7, "CON.F.US.MNQ.H26", ts, Decimal(1), Decimal(-10), Decimal(0), Side.SELL, 1
        )
        await engine.process(trade)
    await engine.stop()
    return path


def test_status_lists_todays_rule_errors(
    state_db: Path, erring: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--state", str(state_db), "--format", "json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["rule_errors"]
    assert (entry["rule"], entry["part"], entry["count"]) == ("pnl_cents", "when", 5)
    assert entry["where"] == f"{erring}:6:11"
    assert main(["status", "--state", str(state_db), "--tz", "America/Chicago"]) == 0
    out = capsys.readouterr().out
    assert "rule errors:    1" in out
    assert (
        f"  pnl_cents failed in `when` at {erring}:6:11: InvalidOperation: DivisionImpossible "
        "(5 since 2026-03-02 09:00:20 CST, last 2026-03-02 09:05:10 CST)"
    ) in out
