"""Every example in docs/language.md is valid: `yaml` blocks pass `rmdsl check`, each line of
an `rmdsl` block parses and type-checks in some scope."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from rmdsl.cli import main
from rmdsl.docs_gen import DOC_PATH
from rmdsl.lang.check import CheckEnv, check_expression
from rmdsl.lang.parser import parse_expression
from rmdsl.lang.schema import Scope
from rmdsl.lang.types import INT, STRING, list_of, map_of

TEXT = DOC_PATH.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(yaml|rmdsl)\n(.*?)```", TEXT, re.S)
RULESETS = [body for kind, body in BLOCKS if kind == "yaml"]
EXPRESSIONS = [line for kind, body in BLOCKS if kind == "rmdsl" for line in body.splitlines()]
# the params the expression examples read
PARAMS = {
    "per_symbol": (map_of(INT), {"MNQ": 2}),
    "max_contracts": (INT, 5),
    "blocked": (list_of(STRING), ("CL*",)),
}


def test_the_reference_has_examples() -> None:
    assert len(RULESETS) >= 5 and len(EXPRESSIONS) >= 15


@pytest.mark.parametrize("body", RULESETS, ids=lambda b: b.split("name: ")[1].split()[0])
def test_ruleset_example_checks(body: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(body, encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["check", "--color", "never", str(path)])
    assert code == 0 and ": ok," in out.getvalue(), out.getvalue()
    assert "warning" not in out.getvalue(), out.getvalue()


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_expression_example_checks(source: str) -> None:
    expr = parse_expression(source, path="docs/language.md")
    errors = {
        scope: check_expression(expr, CheckEnv("docs/language.md", scope, PARAMS)).errors
        for scope in Scope
    }
    assert any(not e for e in errors.values()), errors
