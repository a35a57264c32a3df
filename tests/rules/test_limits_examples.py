"""The acceptance tests of issue 9 written as ruleset tests (examples/tests/limits) pass:
rmdsl's own closes never feed the trader's rules, the trading-day boundary is clean, a
loosening waits for the reset across a restart, a rule that errors is reported as an error
(a documented one listed in `expect.errors`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMITS = sorted((ROOT / "examples" / "tests" / "limits").glob("*_test.yaml"))


def test_every_limits_example_passes() -> None:
    assert len(LIMITS) >= 2, "no limits examples found"
    done = subprocess.run(
        [sys.executable, "-m", "rmdsl", "test", *(str(p) for p in LIMITS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout and "8 passed" in done.stdout
