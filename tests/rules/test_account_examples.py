"""The ruleset tests of issue 12's account names and periods (examples/tests/account) pass:
the MLL at the cent and the millisecond, across the reset, the week across a weekend,
days(N), pnl(2d) across resets, and all of it across a restart (docs/language.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = sorted((ROOT / "examples" / "tests" / "account").glob("*_test.yaml"))


def test_every_account_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(ACCOUNT) == 3, "the account examples moved"
    code = main(["test", *(str(p) for p in ACCOUNT)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "10 passed, 0 failed" in out
