"""ast.Expr -> canonical source text that parses back to an equal tree (minimal parentheses)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rmdsl.lang import ast
from rmdsl.lang.ast import BinaryOp, UnaryOp
from rmdsl.lang.literals import format_duration, format_time, format_weekday, money_literal
from rmdsl.lang.types import BOOL, DATE, DURATION, INT, MONEY, NUMBER, STRING, TIME, WEEKDAY, Type

# binding strength of each tier, loosest first (the grammar's ?tiers)
IF_ELSE, OR, AND, NOT, COMPARE, SUM, PRODUCT, NEG, ATOM = range(1, 10)
_BINARY = {
    BinaryOp.OR: OR,
    BinaryOp.AND: AND,
    BinaryOp.ADD: SUM,
    BinaryOp.SUB: SUM,
    BinaryOp.MUL: PRODUCT,
    BinaryOp.DIV: PRODUCT,
    BinaryOp.MOD: PRODUCT,
}


def print_expression(expr: ast.Expr) -> str:
    return _print(expr, IF_ELSE)


def _tier(node: ast.Expr) -> int:
    match node:
        case ast.IfElse():
            return IF_ELSE
        case ast.Binary(op=op):
            return _BINARY[op]
        case ast.Unary(op=UnaryOp.NOT):
            return NOT
        case ast.Unary():
            return NEG
        case ast.Compare() | ast.In() | ast.Matches():
            return COMPARE
    return ATOM


def _print(node: ast.Expr, at_least: int) -> str:
    text = _bare(node)
    return f"({text})" if _tier(node) < at_least else text


def _bare(node: ast.Expr) -> str:
    match node:
        case ast.Literal(value=value, type=typ):
            return format_literal(value, typ)
        case ast.Name(path=path):
            return path
        case ast.Call(func=func, args=args):
            head, _, member = func.partition(".")  # days(5).realized_pnl: a member of a call
            shown = f"{head}({', '.join(_print(a, IF_ELSE) for a in args)})"
            return f"{shown}.{member}" if member else shown
        case ast.ListLit(items=items):
            return f"[{', '.join(_print(i, IF_ELSE) for i in items)}]"
        case ast.Unary(op=UnaryOp.NOT, operand=x):
            return f"not {_print(x, NOT)}"
        case ast.Unary(operand=x):
            if isinstance(x, ast.Literal) and x.type in (MONEY, INT, NUMBER):
                return f"-({_bare(x)})"
            return f"-{_print(x, NEG)}"
        case ast.Binary(op=op, left=left, right=right):
            tier = _BINARY[op]
            return f"{_print(left, tier)} {op.value} {_print(right, tier + 1)}"
        case ast.Compare(ops=ops, operands=xs):
            parts = [_print(xs[0], SUM)]
            parts += [f"{op.value} {_print(x, SUM)}" for op, x in zip(ops, xs[1:], strict=True)]
            return " ".join(parts)
        case ast.In(negated=neg, item=item, container=container):
            word = "not in" if neg else "in"
            return f"{_print(item, SUM)} {word} {_container(container)}"
        case ast.Matches(subject=s, pattern=p):
            return f"{_print(s, SUM)} matches {_print(p, SUM)}"
        case ast.IfElse(body=b, test=t, orelse=o):
            return f"{_print(b, OR)} if {_print(t, OR)} else {_print(o, IF_ELSE)}"
    raise TypeError(f"cannot print {node!r}")


def _container(node: ast.Expr) -> str:
    if isinstance(node, ast.Range):
        return f"{_print(node.start, SUM)}..{_print(node.end, SUM)}"
    return _print(node, SUM)


def format_literal(value: object, typ: Type) -> str:
    """A value as the literal that denotes it in source."""
    if typ == BOOL:
        return "true" if value else "false"
    if typ == MONEY and isinstance(value, Decimal):
        return money_literal(value)
    if typ == NUMBER and isinstance(value, Decimal):
        text = format(value, "f")
        return text if "." in text else text + ".0"
    if typ == DURATION and isinstance(value, int):
        return format_duration(value)
    if typ == TIME and isinstance(value, dt.time):
        return format_time(value)
    if typ == DATE and isinstance(value, dt.date):
        return value.isoformat()
    if typ == WEEKDAY and isinstance(value, int):
        return format_weekday(value)
    if typ == STRING and isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return str(value)
