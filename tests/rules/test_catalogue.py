"""The rule catalogue's ruleset tests (examples/tests/catalogue) all pass, and the shipped
rulesets and examples check clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = sorted((ROOT / "examples" / "tests" / "catalogue").glob("*.yaml"))


def _rmdsl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_catalogue_test_passes() -> None:
    assert CATALOGUE, "no catalogue tests found"
    done = _rmdsl("test", *(str(p) for p in CATALOGUE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 failed" in done.stdout


def test_shipped_rulesets_and_examples_check_clean() -> None:
    files = [
        p
        for pattern in ("rulesets/*.yaml", "rulesets/*/*.yaml", "examples/*.yaml")
        for p in sorted(ROOT.glob(pattern))
        if "invalid" not in str(p) and "bad" not in p.name
    ]
    done = _rmdsl("check", *(str(p) for p in files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stdout
