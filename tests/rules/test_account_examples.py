"""The ruleset tests of issue 12's clock-time locks, reduce-only and exposure names pass
(examples/tests/clock, examples/tests/exposure): to the millisecond, across midnight, the
reset, a weekend, both DST changes and a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    p for folder in ("clock", "exposure") for p in (ROOT / "examples/tests" / folder).glob("*.yaml")
)


def test_every_clock_and_exposure_example_passes() -> None:
    assert len(FILES) >= 3, "no examples found"
    done = subprocess.run(
        [sys.executable, "-m", "rmdsl", "test", *(str(p) for p in FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout and "17 passed" in done.stdout
