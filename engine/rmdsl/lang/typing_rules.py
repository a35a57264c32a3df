"""The typing rules of the operators, as data the checker and the reference interpreter share.

Each function returns the result type, or None when the operand types do not go together.
"""

from __future__ import annotations

from rmdsl.lang.ast import BinaryOp
from rmdsl.lang.types import ANY, BOOL, DURATION, INT, MONEY, NUMBER, NUMERIC, ORDERED, SIGNED, Type

# the type of a node that already failed: compatible with anything, so errors don't cascade
ERROR = Type("error")


def unify(a: Type, b: Type) -> Type | None:
    """The common type of two values that may meet (branches, list items, comparisons)."""
    if a == ERROR or b == ERROR:
        return b if a == ERROR else a
    if a == b:
        return a
    if a in NUMERIC and b in NUMERIC:
        return NUMBER
    if a.is_list and b.is_list:
        assert a.elem is not None and b.elem is not None
        if a.elem == ANY or b.elem == ANY:
            return b if a.elem == ANY else a
        elem = unify(a.elem, b.elem)
        return Type("list", elem) if elem is not None else None
    return None


def binary_type(op: BinaryOp, left: Type, right: Type) -> Type | None:
    if ERROR in (left, right):
        return ERROR
    if op in (BinaryOp.AND, BinaryOp.OR):
        return BOOL if left == BOOL and right == BOOL else None
    if left in NUMERIC and right in NUMERIC:
        if op is BinaryOp.DIV:
            return NUMBER
        return INT if left == INT and right == INT else NUMBER
    pair = (left, right)
    if op in (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MOD):
        return left if left == right and left in (MONEY, DURATION) else None
    if op is BinaryOp.MUL:
        for scaled in (MONEY, DURATION):
            if pair in ((scaled, INT), (scaled, NUMBER), (INT, scaled), (NUMBER, scaled)):
                return scaled
        return None
    # division
    if left in (MONEY, DURATION) and right in NUMERIC:
        return left
    if left == right and left in (MONEY, DURATION):
        return NUMBER
    return None


def negate_type(operand: Type) -> Type | None:
    return operand if operand in SIGNED or operand == ERROR else None


def comparable(left: Type, right: Type, ordering: bool) -> bool:
    common = unify(left, right)
    if common is None:
        return False
    return not ordering or common in ORDERED or common == ERROR
