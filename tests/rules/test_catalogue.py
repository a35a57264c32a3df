"""The rule catalogue's ruleset tests (examples/tests/catalogue) all pass, cover every rule of
the catalogue, and the shipped rulesets and examples check clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from rmdsl.pipeline import load_ruleset

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = sorted((ROOT / "examples" / "tests" / "catalogue").glob("*.yaml"))
MANAGED = ROOT / "examples" / "tests" / "rulesets" / "topstep-managed.yaml"


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
        for pattern in (
            "rulesets/*.yaml",
            "rulesets/*/*.yaml",
            "examples/*.yaml",
            "examples/*/*.yaml",  # what the CI hook checks as rulesets
            "examples/tests/rulesets/*.yaml",
        )
        for p in sorted(ROOT.glob(pattern))
        if "invalid" not in str(p) and "bad" not in p.name
    ]
    done = _rmdsl("check", *(str(p) for p in files))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stdout


def test_every_catalogue_rule_has_a_ruleset_test() -> None:
    """Each rule of the catalogue rulesets is expected to act (not only skip) in some file."""
    rules = {r.id for r in load_ruleset(MANAGED).rules} | {"no_stop_loss_grace"}
    text = "\n".join(p.read_text(encoding="utf-8") for p in CATALOGUE)
    acting = {
        m.group(1)
        for line in text.splitlines()
        if "outcome: skipped" not in line
        for m in re.finditer(r"rule: ([a-z0-9_]+)", line)
    }
    assert sorted(rules - acting) == []
