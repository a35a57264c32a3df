"""The ruleset tests of issue 12's clock-time locks, reduce-only and exposure names pass
(examples/tests/clock, examples/tests/exposure): to the millisecond, across midnight, the
reset, a weekend, both DST changes and a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdsl.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tests"


@pytest.mark.parametrize(("folder", "cases"), [("clock", 8), ("exposure", 9)])
def test_every_example_of_the_folder_passes(
    folder: str, cases: int, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted((EXAMPLES / folder).glob("*_test.yaml"))
    assert main(["test", *map(str, files)]) == 0, capsys.readouterr().out
    assert f"{cases} passed, 0 failed" in capsys.readouterr().out
