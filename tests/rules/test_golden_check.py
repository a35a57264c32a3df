"""Golden files for `rmdsl check`: tests/golden/check/<case>.yaml -> <case>.expected, verbatim.

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/rules/test_golden_check.py`
and review the diff. Files in subfolders are the bases extends cases point to.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from rmdsl.cli import main
from rmdsl.lang.diagnostic_codes import CODES as LANG_CODES
from rmdsl.rules.diagnostic_codes import CODES as RULES_CODES

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "check"
CASES = sorted(p.name for p in GOLDEN.glob("*.yaml"))
# RM002 needs a file over 500 kB and RM014 50,000 YAML values: tests/cli/test_check_cli.py
# generates them instead.
# RM167 (a non-bool expected type) cannot arise from a ruleset file: conditions expect bool.
# RM013 is reported by hot reload only (`check` exits 2 on an unreadable file):
# tests/engine/test_reload.py deletes a watched file to produce it.
NOT_GOLDEN = {"RM002", "RM013", "RM014", "RM167"}


def run_check(name: str) -> tuple[int, str]:
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(GOLDEN)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = main(["check", "--color", "never", name])
    finally:
        os.chdir(cwd)
    return code, out.getvalue()


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    code, output = run_check(name)
    expected_path = GOLDEN / name.replace(".yaml", ".expected")
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.write_text(output, encoding="utf-8")
    expected = expected_path.read_text(encoding="utf-8")
    assert output == expected
    assert code == (1 if ": invalid," in output else 0), output


def test_every_code_has_a_golden_case() -> None:
    seen: set[str] = set()
    for expected in GOLDEN.glob("*.expected"):
        seen.update(re.findall(r"(?:error|warning)\[(RM\d{3})\]", expected.read_text("utf-8")))
    missing = sorted((set(RULES_CODES) | set(LANG_CODES)) - seen - NOT_GOLDEN)
    assert not missing, f"codes without a golden case: {missing}"


def test_golden_codes_are_declared() -> None:
    declared = set(RULES_CODES) | set(LANG_CODES)
    for expected in GOLDEN.glob("*.expected"):
        for code in re.findall(r"\[(RM\d{3})\]", expected.read_text("utf-8")):
            assert code in declared, f"{expected.name}: {code} is not in any CODES table"
