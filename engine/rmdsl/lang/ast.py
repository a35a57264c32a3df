"""Expression AST: a small closed set of frozen nodes the parser builds and later passes read.

Children are fields; the span (file coordinates) is keyword-only and ignored by equality.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from rmdsl.lang.types import Type, Value
from rmdsl.source import Span


class UnaryOp(enum.Enum):
    NEG = "-"
    NOT = "not"


class BinaryOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    AND = "and"
    OR = "or"


class CompareOp(enum.Enum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


@dataclass(frozen=True, slots=True)
class Expr:
    """Base of every node; `span` is where the node's text sits in the file."""

    span: Span | None = field(default=None, kw_only=True, compare=False)
    # the fields that hold children, in source order (a node, or a tuple of nodes)
    children: ClassVar[tuple[str, ...]] = ()

    def iter_children(self) -> Iterator[Expr]:
        for name in self.children:
            value = getattr(self, name)
            if isinstance(value, tuple):
                yield from value
            else:
                yield value

    def walk(self) -> Iterator[Expr]:
        """Every node of the tree, parents before children (iterative: deep trees are safe)."""
        stack: list[Expr] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(tuple(node.iter_children())))


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    value: Value
    type: Type


@dataclass(frozen=True, slots=True)
class Name(Expr):
    path: str  # "day.realized_pnl", "params.daily_loss"


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]

    children = ("args",)


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: UnaryOp
    operand: Expr

    children = ("operand",)


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: BinaryOp
    left: Expr
    right: Expr

    children = ("left", "right")


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """A comparison chain: operands[0] ops[0] operands[1] ops[1] operands[2] ..."""

    ops: tuple[CompareOp, ...]
    operands: tuple[Expr, ...]

    children = ("operands",)


@dataclass(frozen=True, slots=True)
class Range(Expr):
    """`start..end`, half-open; only ever the container of an `In`."""

    start: Expr
    end: Expr

    children = ("start", "end")


@dataclass(frozen=True, slots=True)
class In(Expr):
    negated: bool
    item: Expr
    container: Expr  # a list-typed expression or a Range

    children = ("item", "container")


@dataclass(frozen=True, slots=True)
class Matches(Expr):
    subject: Expr
    pattern: Expr

    children = ("subject", "pattern")


@dataclass(frozen=True, slots=True)
class IfElse(Expr):
    """`body if test else orelse`."""

    body: Expr
    test: Expr
    orelse: Expr

    children = ("body", "test", "orelse")


@dataclass(frozen=True, slots=True)
class ListLit(Expr):
    items: tuple[Expr, ...]

    children = ("items",)


def depth(node: Expr) -> int:
    """The height of the tree, computed without recursion."""
    best = 0
    stack: list[tuple[Expr, int]] = [(node, 1)]
    while stack:
        cur, d = stack.pop()
        best = max(best, d)
        stack.extend((child, d + 1) for child in cur.iter_children())
    return best


def dump(node: Expr) -> str:
    """A one-line structural dump for golden files: Binary(+, Name(x), Literal(1: int))."""
    match node:
        case Literal(value=v, type=t):
            return f"Literal({v!r}: {t})"
        case Name(path=p):
            return f"Name({p})"
        case Call(func=f, args=args):
            return f"Call({f}, [{', '.join(dump(a) for a in args)}])"
        case Unary(op=op, operand=x):
            return f"Unary({op.value}, {dump(x)})"
        case Binary(op=op, left=left, right=right):
            return f"Binary({op.value}, {dump(left)}, {dump(right)})"
        case Compare(ops=ops, operands=xs):
            inner = dump(xs[0]) + "".join(
                f" {o.value} {dump(x)}" for o, x in zip(ops, xs[1:], strict=True)
            )
            return f"Compare({inner})"
        case Range(start=s, end=e):
            return f"Range({dump(s)}, {dump(e)})"
        case In(negated=neg, item=item, container=c):
            return f"{'NotIn' if neg else 'In'}({dump(item)}, {dump(c)})"
        case Matches(subject=s, pattern=p):
            return f"Matches({dump(s)}, {dump(p)})"
        case IfElse(body=b, test=t, orelse=o):
            return f"IfElse({dump(b)}, {dump(t)}, {dump(o)})"
        case ListLit(items=items):
            return f"List([{', '.join(dump(i) for i in items)}])"
    raise TypeError(f"not an expression node: {node!r}")


@dataclass(frozen=True, slots=True)
class ActionArg:
    """One argument of an action: `until: reset` (name None when written positionally)."""

    name: str | None
    value: Expr
    span: Span | None = field(default=None, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class ActionCall:
    """A `do:` item as written: `lockout(until: reset)`, `flatten` (the checker reads it)."""

    name: str
    args: tuple[ActionArg, ...]
    span: Span | None = field(default=None, kw_only=True, compare=False)
    name_span: Span | None = field(default=None, kw_only=True, compare=False)
