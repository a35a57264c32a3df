"""Lark callbacks -> rmdsl.lang.ast nodes, run inline by the LALR parser (no recursion, no Tree).

Spans are made from the tokens' character offsets (start_pos/end_pos), moved into the
file by the per-parse base offset the parser sets in `ORIGIN` and turned into lines and
columns by the file's LineIndex (rmdsl.source: the one offset -> line:col conversion).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal

from lark import Token, Transformer

from rmdsl.lang import ast
from rmdsl.lang.ast import BinaryOp, CompareOp, UnaryOp
from rmdsl.lang.literals import (
    LiteralError,
    parse_date,
    parse_duration,
    parse_money,
    parse_time,
    parse_weekday,
)
from rmdsl.lang.types import (
    BOOL,
    DATE,
    DURATION,
    INT,
    MONEY,
    NUMBER,
    STRING,
    TIME,
    WEEKDAY,
    Type,
    Value,
)
from rmdsl.source import LineIndex, Span


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the text being parsed sits: its first character's offset in the file's text."""

    base: int
    lines: LineIndex  # of the file's text

    def span(self, start: int, end: int) -> Span:
        """The file span of text[start:end] (offsets into the parsed text)."""
        return self.lines.span(self.base + start, self.base + end)


ORIGIN: ContextVar[Origin] = ContextVar("rmdsl_expr_origin")

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_CMP = {op.value: op for op in CompareOp}


class BadLiteral(Exception):
    """A token that lexes as a literal but names no value (25:00, 2026-02-30)."""

    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


def token_span(tok: Token) -> Span:
    start = tok.start_pos or 0
    return ORIGIN.get().span(start, tok.end_pos if tok.end_pos is not None else start + 1)


def _join(first: Span | None, last: Span | None) -> Span | None:
    if first is None or last is None:
        return first or last
    return first.to(last)


def _span(item: ast.Expr | Token) -> Span | None:
    return token_span(item) if isinstance(item, Token) else item.span


def _outer(children: list[ast.Expr | Token]) -> Span | None:
    return _join(_span(children[0]), _span(children[-1]))


def _exprs(children: list[ast.Expr | Token]) -> list[ast.Expr]:
    return [c for c in children if isinstance(c, ast.Expr)]


def unescape(body: str) -> str:
    out: list[str] = []
    chars = iter(body)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "\\")
            out.append(_ESCAPES.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def _read(tok: Token, parse: Callable[[str], Value]) -> Value:
    """The value of a literal token, its LiteralError turned into a located BadLiteral."""
    try:
        return parse(str(tok))
    except LiteralError as err:
        raise BadLiteral(err.message, token_span(tok)) from None


def _binary(op: BinaryOp) -> Callable[[ExprTransformer, list[ast.Expr | Token]], ast.Expr]:
    """The callback of one binary operator's alias (`add`, `and_`, ...)."""

    def build(self: ExprTransformer, c: list[ast.Expr | Token]) -> ast.Expr:
        left, right = _exprs(c)
        return ast.Binary(op, left, right, span=_outer(c))

    return build


_ARITHMETIC = (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.MOD)


class ExprTransformer(Transformer[Token, ast.Expr]):
    """One method per grammar alias; each gets the children with every token kept."""

    # literals -------------------------------------------------------------
    def _lit(self, tok: Token, value: Value, typ: Type) -> ast.Literal:
        return ast.Literal(value, typ, span=token_span(tok))

    def true_(self, c: list[Token]) -> ast.Expr:
        return self._lit(c[0], True, BOOL)

    def false_(self, c: list[Token]) -> ast.Expr:
        return self._lit(c[0], False, BOOL)

    def int_(self, c: list[Token]) -> ast.Expr:
        if len(c[0]) > 30:
            raise BadLiteral("number literal too long", token_span(c[0]))
        return self._lit(c[0], int(c[0]), INT)

    def decimal(self, c: list[Token]) -> ast.Expr:
        if len(c[0]) > 30:
            raise BadLiteral("number literal too long", token_span(c[0]))
        return self._lit(c[0], Decimal(str(c[0])), NUMBER)

    def money(self, c: list[Token]) -> ast.Expr:
        if len(c[0]) > 30:
            raise BadLiteral("money literal too long", token_span(c[0]))
        return self._lit(c[0], _read(c[0], parse_money), MONEY)

    def duration(self, c: list[Token]) -> ast.Expr:
        if len(c[0]) > 40:
            raise BadLiteral("duration literal too long", token_span(c[0]))
        return self._lit(c[0], _read(c[0], parse_duration), DURATION)

    def time(self, c: list[Token]) -> ast.Expr:
        return self._lit(c[0], _read(c[0], parse_time), TIME)

    def date(self, c: list[Token]) -> ast.Expr:
        return self._lit(c[0], _read(c[0], parse_date), DATE)

    def weekday(self, c: list[Token]) -> ast.Expr:
        return self._lit(c[0], _read(c[0], parse_weekday), WEEKDAY)

    def string(self, c: list[Token]) -> ast.Expr:
        return self._lit(c[0], unescape(str(c[0])[1:-1]), STRING)

    # names, calls, groups --------------------------------------------------
    def name(self, c: list[Token]) -> ast.Expr:
        path = "".join(str(t) for t in c)
        return ast.Name(path, span=_join(token_span(c[0]), token_span(c[-1])))

    def call(self, c: list[ast.Expr | Token]) -> ast.Expr:
        return ast.Call(str(c[0]), tuple(_exprs(c[2:])), span=_outer(c))

    def call_member(self, c: list[ast.Expr | Token]) -> ast.Expr:
        """`days(5).realized_pnl` is the function `days.realized_pnl` of one argument."""
        member = c[-1]
        return ast.Call(f"{c[0]}.{member}", tuple(_exprs(c[2:-2])), span=_outer(c))

    def action(self, c: list[ast.ActionArg | Token | None]) -> ast.ActionCall:
        name = c[0]
        assert isinstance(name, Token)
        args = tuple(a for a in c if isinstance(a, ast.ActionArg))
        last = next(t for t in reversed(c) if t is not None)
        end = token_span(last) if isinstance(last, Token) else last.span
        span = _join(token_span(name), end)
        return ast.ActionCall(str(name), args, span=span, name_span=token_span(name))

    def arg(self, c: list[ast.Expr | Token | None]) -> ast.ActionArg:
        value = _exprs([x for x in c if x is not None])[-1]
        name = c[0] if isinstance(c[0], Token) else None
        span = _join(token_span(name), value.span) if name is not None else value.span
        return ast.ActionArg(None if name is None else str(name), value, span=span)

    def paren(self, c: list[ast.Expr | Token]) -> ast.Expr:
        return _exprs(c)[0]

    def list_(self, c: list[ast.Expr | Token]) -> ast.Expr:
        return ast.ListLit(tuple(_exprs(c)), span=_outer(c))

    # operators -------------------------------------------------------------
    add, sub, mul, div, mod = (_binary(op) for op in _ARITHMETIC)
    and_, or_ = _binary(BinaryOp.AND), _binary(BinaryOp.OR)

    def neg(self, c: list[ast.Expr | Token]) -> ast.Expr:
        return ast.Unary(UnaryOp.NEG, _exprs(c)[0], span=_outer(c))

    def not_(self, c: list[ast.Expr | Token]) -> ast.Expr:
        return ast.Unary(UnaryOp.NOT, _exprs(c)[0], span=_outer(c))

    def compare(self, c: list[ast.Expr | Token]) -> ast.Expr:
        ops = tuple(_CMP[str(t)] for t in c if isinstance(t, Token))
        return ast.Compare(ops, tuple(_exprs(c)), span=_outer(c))

    def in_(self, c: list[ast.Expr | Token]) -> ast.Expr:
        item, container = _exprs(c)
        return ast.In(False, item, container, span=_outer(c))

    def not_in(self, c: list[ast.Expr | Token]) -> ast.Expr:
        item, container = _exprs(c)
        return ast.In(True, item, container, span=_outer(c))

    def range(self, c: list[ast.Expr | Token]) -> ast.Expr:
        start, end = _exprs(c)
        return ast.Range(start, end, span=_outer(c))

    def matches(self, c: list[ast.Expr | Token]) -> ast.Expr:
        subject, pattern = _exprs(c)
        return ast.Matches(subject, pattern, span=_outer(c))

    def if_else(self, c: list[ast.Expr | Token]) -> ast.Expr:
        body, test, orelse = _exprs(c)
        return ast.IfElse(body, test, orelse, span=_outer(c))
