"""Lark syntax errors -> (code, message, hint): friendly names and common mistakes by example."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from rmdsl.lang.diagnostic_codes import CODES

FRIENDLY: dict[str, str] = {
    "NAME": "a name",
    "INT": "a number",
    "DECIMAL": "a number",
    "MONEY": "a money amount",
    "DURATION": "a duration",
    "TIME": "a time",
    "DATE": "a date",
    "WEEKDAY": "a weekday",
    "STRING": "a string",
    "TRUE": "`true`",
    "FALSE": "`false`",
    "IF": "`if`",
    "ELSE": "`else`",
    "OR": "`or`",
    "AND": "`and`",
    "NOT": "`not`",
    "IN": "`in`",
    "MATCHES": "`matches`",
    "COMP_OP": "a comparison",
    "DOTDOT": "`..`",
    "DOT": "`.`",
    "PLUS": "`+`",
    "MINUS": "`-`",
    "STAR": "`*`",
    "SLASH": "`/`",
    "PERCENT": "`%`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "$END": "the end of the expression",
}
_OPERANDS = frozenset(
    {"NAME", "INT", "DECIMAL", "MONEY", "DURATION", "TIME", "DATE", "WEEKDAY", "STRING"}
    | {"TRUE", "FALSE", "LPAR", "LSQB"}
)
_TRAILING_OP = re.compile(
    r"(\+|-|\*|/|%|==|!=|<=|>=|<|>|\.\.|,|\b(and|or|not|in|matches|if|else))\s*$"
)

# Common mistakes, recognised by the parser state they leave Lark in (lark match_examples).
EXAMPLES: dict[str, list[str]] = {
    "RM117": [
        "x y",
        "x.y z",
        "1 2",
        "$1 x",
        "f(x) y",
        "1h x",
        '"a" x',
        "(x) y",
        "[1] x",
        "true x",
        "x 1",
        "x.y 1",
        "x $1",
        "x.y $1",
    ],
}


def expected_text(accepts: set[str] | frozenset[str]) -> str:
    """Lark terminal names -> "an expression, `)`, `,`" (operand kinds collapse into one)."""
    terms = {t for t in accepts if not t.startswith("__")}
    names: set[str] = set()
    if len(terms & _OPERANDS) >= 4:
        names.add("an expression")
        terms -= _OPERANDS | {"MINUS", "NOT"}
    names |= {FRIENDLY.get(t, t) for t in terms}
    ordered = sorted(names, key=lambda n: (n != "an expression", n))
    return ", ".join(ordered[:8] + (["..."] if len(ordered) > 8 else []))


def describe_unexpected_char(
    text: str, err: UnexpectedCharacters
) -> tuple[str, str, str | None, int]:
    """(code, message, hint, span length) for a character no token starts with."""
    pos = err.pos_in_stream or 0
    ch = text[pos] if 0 <= pos < len(text) else ""
    nxt = text[pos + 1] if pos + 1 < len(text) else ""
    prev = text[pos - 1] if pos > 0 else ""
    if ch == "=":
        return "RM102", f"{CODES['RM102']}: use `==`", "write `==` to compare", 1
    if ch in "&|":
        word = "and" if ch == "&" else "or"
        length = 2 if nxt == ch else 1
        return "RM103", f"{CODES['RM103']}: use `{word}`", f"write `{word}`", length
    if ch == "!":
        return "RM104", f"{CODES['RM104']}: use `not`", "write `not x`, or `!=` for not equal", 1
    if ch == "$" and nxt == "-":
        return "RM105", CODES["RM105"], "write `-$400`, not `$-400`", 2
    if ch == "$" and prev.isdigit():
        return "RM107", CODES["RM107"], "write `$400`, not `400$`", 1
    if ch == "$":
        return "RM100", f"{CODES['RM100']}: `$` must be followed by an amount", "e.g. `$400`", 1
    if not ch.isprintable() or not ch.isascii():
        return "RM116", f"{CODES['RM116']} {ch!r}", None, 1
    expected = expected_text(set(err.allowed or ()))
    message = f"{CODES['RM100']}: unexpected `{ch}`"
    return "RM100", message + (f", expected {expected}" if expected else ""), None, 1


def describe_unexpected_token(
    text: str,
    err: UnexpectedToken,
    parse_fn: Callable[[str], Any],
) -> tuple[str, str, str | None]:
    """(code, message, hint) for a token the grammar does not allow here."""
    tok = err.token
    accepts = set(err.accepts or err.expected or ())
    if tok.type == "$END":
        match = _TRAILING_OP.search(text)
        if match:
            op = match.group(1)
            return (
                "RM109",
                f"{CODES['RM109']} `{op}`",
                "complete the expression or remove the operator",
            )
        return "RM101", f"{CODES['RM101']}, expected {expected_text(accepts)}", None
    label = err.match_examples(parse_fn, EXAMPLES, use_accepts=True)
    if tok.type == "DOTDOT":
        return "RM113", CODES["RM113"], "write `x in 08:30..15:10`"
    operand = tok.type in _OPERANDS
    if operand and (label == "RM117" or accepts & {"PLUS", "COMP_OP", "AND"}):
        return (
            "RM117",
            f"{CODES['RM117']}: unexpected `{tok}`",
            "add an operator such as `+`, `==` or `and`",
        )
    message = f"{CODES['RM100']}: unexpected `{tok}`, expected {expected_text(accepts)}"
    return "RM100", message, None
