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
    lockout = next(f for f in report["firings"] if f["action"].startswith("lockout"))
    assert "day.realized_pnl" in lockout["values"]
    assert report["summary"]["rules"]["no_stop_loss_grace"]["firings"] == 2
    assert report["events"] == 52


def test_replay_text_output() -> None:
    result = run("--ruleset", RULESET, RECORDING)
    assert result.returncode == 0, result.stderr
    assert "no_stop_loss_grace" in result.stdout and "saved $486.00" in result.stdout
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
