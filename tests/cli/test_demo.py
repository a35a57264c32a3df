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
