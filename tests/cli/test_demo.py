"""`rmdsl demo` as a subprocess (no TTY): exit 0, the summary names every rule the script breaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmdsl.cli import main


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_enforces_the_scripted_breaches(tmp_path: Path) -> None:
    state = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "PROJECTX"))}
    done = subprocess.run(
        [sys.executable, "-m", "rmdsl", "demo", "--speed", "30", "--json", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert summary["missing"] == []
    fired = set(summary["rules_fired"])
    assert {"no_stop_loss_grace", "daily_realized_loss"} <= fired
    assert fired & {"max_contracts_per_instrument", "max_contracts"}
    closes = [
        e
        for e in summary["enforcements"]
        if e["action"] == "close_position" and e["outcome"] == "ok"
    ]
    assert len(closes) >= 2
    assert all(e["latency_ms"] is not None for e in closes)
    assert not [e for e in summary["enforcements"] if e["outcome"] == "failed"]
    # the live lines and the table went to stderr, as plain text without a terminal
    assert "enforcement summary" in done.stderr
    assert "\x1b[" not in done.stderr
    assert state.exists(), "--state keeps the database for `rmdsl status`"


def test_demo_refuses_an_existing_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    state.write_text("")
    assert main(["demo", "--state", str(state)]) == 2
    assert "exists" in capsys.readouterr().err


def test_demo_refuses_a_silly_speed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--speed", "0"]) == 2
    assert "--speed" in capsys.readouterr().err


GRACE_ONLY = """\
rmdsl: 1
name: grace-only
rules:
  no_stop_loss_grace:
    grace: 1m
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_with_a_ruleset_lacking_the_storys_rules_says_why(tmp_path: Path) -> None:
    ruleset = tmp_path / "mine.yaml"
    ruleset.write_text(GRACE_ONLY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "PROJECTX"))}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "rmdsl", "demo"),
            *("--ruleset", str(ruleset), "--speed", "40", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    # every breach it could not enforce lacks its rule: not a failure of this ruleset
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rules_fired"] == ["no_stop_loss_grace"]
    why = {n["what"]: n["why"] for n in summary["not_enforced"]}
    assert why["too many contracts -> reduced"] == (
        "the ruleset has no rule max_contracts_per_instrument or max_contracts"
    )
    assert why["daily loss limit -> locked out"] == "the ruleset has no rule daily_realized_loss"
    assert why["trade during the lockout -> closed"] == (
        "nothing locked the account out earlier in the story"
    )
    assert "no stop loss for 2m -> closed" not in why  # enforced by the trader's grace rule
    assert not any(n["failure"] for n in summary["not_enforced"])
    assert "ruleset grace-only" in done.stderr
    assert "not enforced: daily loss limit -> locked out: the ruleset has no rule" in done.stderr


def test_demo_with_an_invalid_ruleset_prints_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rmdsl: 1\nname: bad\nrules:\n  x:\n    when: nope(\n", encoding="utf-8")
    assert main(["demo", "--ruleset", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:5" in err and "not a valid ruleset" in err
    assert main(["demo", "--ruleset", str(tmp_path / "missing.yaml")]) == 2
