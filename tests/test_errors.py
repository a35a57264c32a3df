"""Compiler-style rendering of diagnostics."""

from rmdsl.errors import Diagnostic, Severity, render_all
from rmdsl.source import Span


def test_caret_under_span_with_help() -> None:
    d = Diagnostic(
        "RM150",
        "unknown name `day.realised_pnl`",
        "r.yaml",
        Span(4, 11, 4, 27),
        hint="did you mean `day.realized_pnl`?",
        source_line="    when: day.realised_pnl <= -$400",
    )
    assert d.render() == (
        "r.yaml:4:11: error[RM150]: unknown name `day.realised_pnl`\n"
        "   4 |     when: day.realised_pnl <= -$400\n"
        "     |           ^~~~~~~~~~~~~~~~\n"
        "  help: did you mean `day.realized_pnl`?"
    )


def test_warning_without_span_and_cap() -> None:
    d = Diagnostic("RM850", "rule is disabled", "r.yaml", None, severity=Severity.WARNING)
    assert d.render() == "r.yaml: warning[RM850]: rule is disabled"
    text = render_all([d] * 3, limit=2)
    assert text.endswith("... and 1 more")


def test_long_line_is_cut_to_a_window_around_the_caret() -> None:
    line = "    when: " + "1 + " * 100 + "day.realised_pnl <= -$400"
    col = line.index("day.realised_pnl") + 1
    d = Diagnostic("RM150", "unknown name", "r.yaml", Span(4, col, 4, col + 16), source_line=line)
    _, excerpt, caret = d.render().splitlines()
    assert excerpt.startswith("   4 | ...") and len(excerpt) < 120
    assert excerpt[caret.index("^") :].startswith("day.realised_pnl")
    assert caret.endswith("^" + "~" * 15)
