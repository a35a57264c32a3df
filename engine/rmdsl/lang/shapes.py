"""Specialised closures for the commonest shape, `a <op> b`: one closure, no per-call dispatch;
and the implementation of each arithmetic operator by operand types (closures and codegen).

`predicate_pair` also folds the top-level safety net into the same closure, so
a rule like `day.realized_pnl <= params.daily_loss` costs one Python call.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from rmdsl.lang import runtime
from rmdsl.lang.ast import BinaryOp, CompareOp
from rmdsl.lang.context import EvalContext
from rmdsl.lang.types import DURATION, Type
from rmdsl.lang.typing_rules import NUMERIC

Fn = Callable[[EvalContext], Any]
_OPS: dict[CompareOp, Callable[[Any, Any], Any]] = {
    CompareOp.EQ: operator.eq,
    CompareOp.NE: operator.ne,
    CompareOp.LT: operator.lt,
    CompareOp.LE: operator.le,
    CompareOp.GT: operator.gt,
    CompareOp.GE: operator.ge,
}
_MIRROR = {
    CompareOp.EQ: CompareOp.EQ,
    CompareOp.NE: CompareOp.NE,
    CompareOp.LT: CompareOp.GT,
    CompareOp.LE: CompareOp.GE,
    CompareOp.GT: CompareOp.LT,
    CompareOp.GE: CompareOp.LE,
}


def _fn_const(op: CompareOp, f: Fn, c: Any) -> Fn:
    match op:
        case CompareOp.EQ:
            return lambda ctx: f(ctx) == c
        case CompareOp.NE:
            return lambda ctx: f(ctx) != c
        case CompareOp.LT:
            return lambda ctx: f(ctx) < c
        case CompareOp.LE:
            return lambda ctx: f(ctx) <= c
        case CompareOp.GT:
            return lambda ctx: f(ctx) > c
    return lambda ctx: f(ctx) >= c


def _fn_fn(op: CompareOp, f: Fn, g: Fn) -> Fn:
    match op:
        case CompareOp.EQ:
            return lambda ctx: f(ctx) == g(ctx)
        case CompareOp.NE:
            return lambda ctx: f(ctx) != g(ctx)
        case CompareOp.LT:
            return lambda ctx: f(ctx) < g(ctx)
        case CompareOp.LE:
            return lambda ctx: f(ctx) <= g(ctx)
        case CompareOp.GT:
            return lambda ctx: f(ctx) > g(ctx)
    return lambda ctx: f(ctx) >= g(ctx)


def compare_pair(op: CompareOp, lf: Fn, lc: object, rf: Fn, rc: object, *, unset: object) -> Fn:
    """`left op right` as one closure; a constant side is captured by value."""
    if rc is not unset:
        return _fn_const(op, lf, rc)
    if lc is not unset:
        return _fn_const(_MIRROR[op], rf, lc)
    return _fn_fn(op, lf, rf)


def predicate_pair(
    op: CompareOp, lf: Fn, lc: object, rf: Fn, rc: object, *, unset: object
) -> Callable[[EvalContext], bool] | None:
    """`name op constant` as a predicate in one closure; None for other shapes.

    An evaluation error propagates: the engine reports it as an error of the rule.
    """
    if rc is not unset:
        f, c, cmp = lf, rc, _OPS[op]
    elif lc is not unset:
        f, c, cmp = rf, lc, _OPS[_MIRROR[op]]
    else:
        return None

    return lambda ctx: cmp(f(ctx), c) is True


def arith_impl(op: BinaryOp, left: Type, right: Type) -> Callable[[Any, Any], Any]:
    """The runtime function of `left op right` (+, -, *, /, %), by the operand types."""
    if op is BinaryOp.ADD:
        return operator.add
    if op is BinaryOp.SUB:
        return operator.sub
    if op is BinaryOp.MUL:
        if DURATION in (left, right):
            if left == DURATION:
                return runtime.scale_ms
            return lambda a, b: runtime.scale_ms(b, a)
        return operator.mul
    if op is BinaryOp.DIV:
        if left == DURATION and right in NUMERIC:
            return runtime.divide_ms
        return runtime.divide
    return runtime.modulo
