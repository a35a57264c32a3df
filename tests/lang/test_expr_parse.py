"""Parser: golden parse trees and golden syntax errors (caret line included), robustness."""

from __future__ import annotations

import ast as pyast
from pathlib import Path

import pytest

from rmdsl.errors import ParseError, render_diagnostic
from rmdsl.lang import ast
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.parser import grammar_text, parse_expression
from rmdsl.lang.printer import print_expression
from rmdsl.source import SourceFile, Span

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "expr"
PARSE_FILES = sorted((GOLDEN / "parse").glob("*.txt"))
ERROR_FILES = sorted((GOLDEN / "errors").glob("*.txt"))


def _split(path: Path) -> tuple[str, str]:
    head, _, expected = path.read_text().partition("\n---\n")
    return head, expected


@pytest.mark.parametrize("path", PARSE_FILES, ids=lambda p: p.stem)
def test_golden_parse(path: Path) -> None:
    text, expected = _split(path)
    expr = parse_expression(text, path="t.yaml")
    assert f"{ast.dump(expr)}\n{print_expression(expr)}\n" == expected


@pytest.mark.parametrize("path", ERROR_FILES, ids=lambda p: p.stem)
def test_golden_syntax_error(path: Path) -> None:
    head, expected = _split(path)
    text = pyast.literal_eval(head)
    with pytest.raises(ParseError) as info:
        parse_expression(text, path="rules.yaml")
    (diag,) = info.value.diagnostics
    assert diag.code == path.stem
    assert render_diagnostic(diag) + "\n" == expected


def test_every_syntax_code_has_a_golden_file() -> None:
    syntax = {c for c in CODES if "RM100" <= c <= "RM117"}
    assert syntax == {p.stem for p in ERROR_FILES}


def test_spans_are_in_file_coordinates() -> None:
    line = "    when: day.realized_pnl <= params.daily_loss"
    source = SourceFile("r.yaml", "rules:\n  x:\n" + line + "\n")
    at = source.text.index(line) + 10  # the offset of `day` in the file
    expr = parse_expression(line[10:], path="r.yaml", source=source, offset=at)
    assert isinstance(expr, ast.Compare)
    assert expr.span == Span(3, 11, 3, 48)
    assert expr.operands[1].span == Span(3, 31, 3, 48)
    assert (expr.span.start_pos, expr.span.end_pos) == (at, at + len(line) - 10)
    with pytest.raises(ParseError) as info:
        parse_expression("day.pnl = 3", path="r.yaml", source=source, offset=at)
    (diag,) = info.value.diagnostics
    assert (diag.span.line, diag.span.col) == (3, 19) if diag.span else False
    assert diag.source_line == line


def test_multiline_text_keeps_lines() -> None:
    text = "day.pnl > $1 and\n  x = 2"
    source = SourceFile("r.yaml", "\n" * 6 + "    " + text + "\n")  # it starts at 7:5
    with pytest.raises(ParseError) as info:
        parse_expression(text, path="r.yaml", source=source, offset=10)
    span = info.value.diagnostics[0].span
    assert span is not None and (span.line, span.col) == (8, 5)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 10_000 + ")" * 10_000,
        " + ".join(["1"] * 20_000),
        "-" * 4000 + "x",
        "not " * 1200 + "x",
        "".join(chr(c) for c in range(256)),
        b"\xff\xfe\x00garbage".decode("latin-1"),
        "",
        "[" * 40 + "]" * 40 + "]",
        '"\\',
    ],
    ids=[
        "deep-parens",
        "20k-terms",
        "deep-unary",
        "deep-not",
        "bytes",
        "garbage",
        "empty",
        "unbalanced",
        "escape-at-end",
    ],
)
def test_hostile_input_gives_a_located_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_expression(text, path="r.yaml")
    assert all(d.span is not None and d.code in CODES for d in info.value.diagnostics)


def test_keywords_are_reserved_but_path_segments_are_free() -> None:
    assert parse_expression("params.mon", path="x") == ast.Name("params.mon")
    with pytest.raises(ParseError):
        parse_expression("a and and b", path="x")


def test_grammar_is_the_repo_file() -> None:
    repo = Path(__file__).resolve().parents[2] / "grammar" / "rmdsl.lark"
    assert grammar_text() == repo.read_text()
