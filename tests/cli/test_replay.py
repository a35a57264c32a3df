"""`rmdsl replay` end to end (subprocess) on the example recording."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULESET = str(ROOT / "rulesets/topstep.yaml")
RECORDING = str(ROOT / "examples/recordings/topstep-session.jsonl")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", "replay", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_json_timeline() -> None:
    result = run("--ruleset", RULESET, RECORDING, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    fired = [(f["rule"], f["action"]) for f in report["firings"]]
    assert ("no_stop_loss_grace", "close_position") in fired
    assert ("daily_realized_loss", "lockout(until=reset)") in fired
    grace = next(f for f in report["firings"] if f["rule"] == "no_stop_loss_grace")
    assert grace["ts"] == "2026-03-02T14:42:00+00:00"  # 2 minutes after the unprotected entry
    assert grace["impact"]["saved"] == "486.00"
    lockout = next(f for f in report["firings"] if f["rule"] == "daily_realized_loss")
    # net: the gross profitAndLoss -80 - 660 minus the fees of all four fills (opening
    # fills included: 0.74 + 0.74 + 1.11 + 1.11); the re-delivered fill counts once
    assert lockout["values"]["day.realized_pnl"] == "-743.70"  # machine text: exact decimal
    assert lockout["shown"]["day.realized_pnl"] == "-$743.70"  # as the language writes it
    assert report["summary"]["rules"]["no_stop_loss_grace"]["firings"] == 2
    assert report["events"] == 52


def test_replay_text_output() -> None:
    result = run("--ruleset", RULESET, RECORDING)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == "from 2026-03-02 08:30:00 CST to 2026-03-02 09:00:00 CST"  # ruleset's clock
    grace = lines.index("2026-03-02 08:42:00 CST (line 21)  no_stop_loss_grace  close_position")
    assert lines[grace + 1] == "  why:     position.has_stop = false, grace = 2m, position.age = 2m"
    assert lines[grace + 4] == (
        "  impact:  saved $486.00 (P&L at enforcement -$174.00 vs -$660.00 recorded)"
    )
    assert "  why:     params.per_instrument = {MNQ: 2, ES: 1}, symbol = MNQ" in lines
    assert "  why:     day.realized_pnl = -$743.70, params.daily_loss = -$500.00" in lines
    # a losing exit's trade.pnl is net of its own fees: -660 gross - 1.11
    assert "  message: a MNQ trade lost -$661.11: 30m cooldown" in lines
    assert (
        "  sends:   lockout(until=30m) account: skipped "
        "(already locked until 2026-03-02 17:00:00 CST)"
    ) in lines
    assert (
        "  no_stop_loss_grace: fired 2 time(s), saved $486.00; "
        "1 with no figure (skipped: close already sent)"
    ) in lines
    # the -$318 cut at 08:43:30 starts daily_unrealized_loss's own 30m cooldown (a replay has no
    # fill of the cut to start a loss tier with): $980 gross more, and the fees of the five
    # fills it prevents (1.11 + 0.74 + 0.74 + 0.37 + 0.37): $983.33, which the total cannot add
    # to the grace close's figure (the same position)
    assert any(
        line.startswith("  daily_unrealized_loss: fired 1 time(s), saved $983.33") for line in lines
    )
    assert lines[-1].startswith("  not added: daily_unrealized_loss at 2026-03-02 08:43:30 CST")
    # a skipped firing says why, never "saved $0.00"
    assert "  impact:  no figure: skipped: close already sent" in lines
    assert not any(line.endswith("saved $0.00") for line in lines)
    assert lines[-2] == (
        "  total saved $808.22 (2 figure(s) that add up: each position counted once)"
    )
    assert "\x1b[" not in result.stdout  # not a terminal: plain text
    assert result.stderr == ""


def test_bad_recording_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts": "2026-03-02T14:30:00Z", "clock": true}\n{"ts": 1}\n')
    result = run("--ruleset", RULESET, str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:2: ")
    assert "Traceback" not in result.stderr


def test_missing_files_are_io_errors(tmp_path: Path) -> None:
    assert run("--ruleset", RULESET, str(tmp_path / "nope.jsonl")).returncode == 2
    assert run("--ruleset", str(tmp_path / "nope.yaml"), RECORDING).returncode == 2


def test_invalid_ruleset_exits_1(tmp_path: Path) -> None:
    rs = tmp_path / "r.yaml"
    rs.write_text("rmdsl: 1\nname: x\nrules:\n  r:\n    when: day.nope > 1\n    do: [flatten]\n")
    result = run("--ruleset", str(rs), RECORDING)
    assert result.returncode == 1 and "r.yaml:5" in result.stderr


def test_replay_stop_fill_with_the_order_first_attaches_no_stop() -> None:
    """Live event order (docs/engine.md, "One fill, several events"): the stop's FILLED order
    comes before its trade and the flat position. Nothing is attached to the flat position."""
    recording = str(ROOT / "examples/recordings/stop-fill-order-first.jsonl")
    ruleset = str(ROOT / "rulesets/base/trade-management.yaml")
    result = run("--ruleset", ruleset, recording, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    fired = [(f["rule"], f["ts"]) for f in report["firings"]]
    # the target at the entry (the trader's own stop was resting already), nothing after
    assert fired == [("trade_management_target", "2026-03-02T14:31:10+00:00")]


GOLDEN = ROOT / "tests/golden/replay"


def test_replay_compare_golden() -> None:
    """Two rulesets side by side on the example day (UPDATE_GOLDEN=1 regenerates)."""
    import os

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rmdsl",
            "replay",
            "--compare",
            "rulesets/topstep.yaml",
            "examples/trader-bob.yaml",
            "examples/recordings/topstep-session.jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    expected = GOLDEN / "compare-topstep-bob.expected"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == expected.read_text(encoding="utf-8")


def test_replay_compare_json_pairs_the_firings_of_one_event() -> None:
    result = run(
        "--compare", RULESET, str(ROOT / "examples/trader-bob.yaml"), RECORDING, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["a"]["ruleset"] == "topstep-50k-personal" and report["b"]["ruleset"] == "trader-bob"
    )
    row = next(r for r in report["rows"] if r["line"] == 32)
    assert row["a"][0]["rule"] == row["b"][0]["rule"] == "daily_realized_loss"
    assert report["a"]["summary"]["total_saved"] == "808.22"
    assert report["b"]["summary"]["total_saved"] == "952.22"
    only_b = next(r for r in report["rows"] if r["ts"] == "2026-03-02T14:40:30+00:00")
    assert only_b["a"] == [] and only_b["b"][0]["saved"] == "630.00"


def test_replay_needs_one_ruleset_or_a_compare_pair() -> None:
    result = run(RECORDING)
    assert result.returncode == 2
    assert "--ruleset" in result.stderr and "Traceback" not in result.stderr
