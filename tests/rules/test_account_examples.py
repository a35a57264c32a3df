"""The ruleset tests of issue 12's clock-time locks, reduce-only and exposure names pass
(examples/tests/clock, examples/tests/exposure): to the millisecond, across midnight, the
reset, a weekend, both DST changes and a restart."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from rmdsl.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tests"


def test_every_clock_and_exposure_example_passes() -> None:
    files = sorted(EXAMPLES.glob("clock/*_test.yaml")) + sorted(EXAMPLES.glob("exposure/*.yaml"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["test", *(str(p) for p in files)])
    assert code == 0, out.getvalue()
    assert "17 passed, 0 failed" in out.getvalue(), out.getvalue()
