"""Checked boolean expressions -> one generated Python function (closures are the fallback).

Covers names, params, constants, comparisons and chains, and/or/not, ranges,
lists and `in` (lists, maps), globs (a pattern or any of a list), arithmetic,
if/else and every function; a node outside that subset makes compile_predicate
use the closures. A rule costs what the hand-written Python would
(docs/performance.md). Semantics: rmdsl.lang.runtime, exactly as the closures.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rmdsl.lang import ast, runtime
from rmdsl.lang.ast import BinaryOp, UnaryOp
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import FUNCTIONS, NAMES
from rmdsl.lang.shapes import arith_impl
from rmdsl.lang.types import DURATION, MONEY, NUMBER, Type

Folder = Callable[[ast.Expr], object]
Typer = Callable[[ast.Expr], Type]
_INFIX = {BinaryOp.ADD: "+", BinaryOp.SUB: "-"}
_ROUNDING = {"round": runtime.round_value, "floor": runtime.floor_value, "ceil": runtime.ceil_value}


class _Unsupported(Exception):
    pass


def generate_predicate(
    expr: ast.Expr,
    const: Folder,
    unset: object,
    type_of: Typer,
    cyclic: Callable[[ast.Range], bool],
    label: str,
) -> Callable[[EvalContext], bool] | None:
    """A predicate for `expr`, or None when `expr` leaves the supported subset.

    An evaluation error propagates (no safety net here): the engine reports it as an
    error of the rule instead of a silent False (docs/engine.md, "When a rule errors").
    """
    gen = _Gen(const, unset, type_of, cyclic)
    try:
        body = gen.emit(expr)
    except _Unsupported:
        return None
    source = f"def _predicate(ctx):\n    return {body}"
    namespace: dict[str, Any] = {"__builtins__": {}, **gen.bound}
    try:
        code = compile(source, f"<rmdsl {label}>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # nested past the parser's limits
        return None
    exec(code, namespace)
    fn: Callable[[EvalContext], bool] = namespace["_predicate"]
    return fn


class _Gen:
    def __init__(
        self, const: Folder, unset: object, type_of: Typer, cyclic: Callable[[ast.Range], bool]
    ) -> None:
        self.const, self.unset, self.type_of, self.cyclic = const, unset, type_of, cyclic
        self.bound: dict[str, object] = {}

    def bind(self, value: object) -> str:
        name = f"_k{len(self.bound)}"
        self.bound[name] = value
        return name

    def emit(self, node: ast.Expr) -> str:
        value = self.const(node)
        if value is not self.unset:
            return self.bind(value)
        match node:
            case ast.Name(path=path) if path.startswith("params."):
                return f"ctx.params[{path.removeprefix('params.')!r}]"
            case ast.Name(path=path):
                return "ctx." + NAMES[path].attr_path
            case ast.Compare(ops=ops, operands=xs):
                parts = [self.emit(xs[0])]
                parts += [f"{op.value} {self.emit(x)}" for op, x in zip(ops, xs[1:], strict=True)]
                return f"({' '.join(parts)})"
            case ast.Binary(op=BinaryOp.AND | BinaryOp.OR as op, left=left, right=right):
                return f"({self.emit(left)} {op.value} {self.emit(right)})"
            case ast.Binary():
                return self._arith(node)
            case ast.Unary(op=UnaryOp.NOT, operand=x):
                return f"(not {self.emit(x)})"
            case ast.Unary(operand=x):
                return f"(-{self.emit(x)})"
            case ast.In(negated=neg, item=item, container=ast.Range() as box):
                test = self._range(self.emit(item), box)
                return f"(not {test})" if neg else test
            case ast.In():
                return self._in(node)
            case ast.Matches(subject=subject, pattern=pattern):
                return self._matches(self.emit(subject), pattern)
            case ast.IfElse(test=test, body=body, orelse=orelse):
                want = self.type_of(node)
                branches = self.coerced(body, want), self.emit(test), self.coerced(orelse, want)
                return "({} if {} else {})".format(*branches)
            case ast.ListLit(items=items):
                want = self.type_of(node).elem or NUMBER
                return "".join(["(", *(f"{self.coerced(i, want)}, " for i in items), ")"])
            case ast.Call(func=func, args=args) if FUNCTIONS[func].runtime:
                return f"ctx.funcs.{func}({', '.join(self.emit(a) for a in args)})"
            case ast.Call():
                return self._call(node)
        raise _Unsupported  # pragma: no cover - every node kind is handled above

    def coerced(self, node: ast.Expr, want: Type) -> str:
        """Widen an int to Decimal where the checker unified to number (as the closures do)."""
        code = self.emit(node)
        if want == NUMBER and self.type_of(node) != NUMBER:
            return f"{self.bind(Decimal)}({code})"
        return code

    def _arith(self, node: ast.Binary) -> str:
        left, right = self.type_of(node.left), self.type_of(node.right)
        a, b = self.emit(node.left), self.emit(node.right)
        if node.op in _INFIX:
            return f"({a} {_INFIX[node.op]} {b})"
        if node.op is BinaryOp.MUL and DURATION not in (left, right):
            return f"({a} * {b})"
        return f"{self.bind(arith_impl(node.op, left, right))}({a}, {b})"

    def _range(self, item: str, box: ast.Range) -> str:
        start, end = self.const(box.start), self.const(box.end)
        if start is self.unset or end is self.unset:
            raise _Unsupported
        lo, hi = self.bind(start), self.bind(end)
        if self.cyclic(box) and start > end:  # type: ignore[operator]
            return f"({item} >= {lo} or {item} < {hi})"
        return f"({lo} <= {item} < {hi})"

    def _in(self, node: ast.In) -> str:
        op = "not in" if node.negated else "in"
        members = self.const(node.container)
        if isinstance(members, tuple) and all(_hashable(m) for m in members):
            return f"({self.emit(node.item)} {op} {self.bind(frozenset(members))})"
        return f"({self.emit(node.item)} {op} {self.emit(node.container)})"

    def _matches(self, subject: str, pattern: ast.Expr) -> str:
        glob = self.const(pattern)
        if isinstance(glob, str | tuple):  # compiled once: one regex for any of a list
            match_fn = self.bind(runtime.glob_matcher(glob))
            return f"({match_fn}({subject}) is not None)"
        value = self.emit(pattern)
        if not self._simple(pattern):  # built per call: its matcher is cached by value
            return f"({self.bind(runtime.glob_matcher)}({value})({subject}) is not None)"
        # a param: the matcher of the value last seen, refreshed when it changes; an empty
        # list (the catalogue's default) skips the regex engine altogether
        cell, refresh = self.bind([object(), None]), self.bind(runtime.glob_cell)
        match_fn = f"({cell}[1] if {value} is {cell}[0] else {refresh}({cell}, {value}))"
        return f"({value} != () and {match_fn}({subject}) is not None)"

    def _simple(self, node: ast.Expr) -> bool:
        """Cheap to evaluate twice: a name or a constant."""
        return isinstance(node, ast.Name) or self.const(node) is not self.unset

    def _call(self, node: ast.Call) -> str:
        func, want = node.func, self.type_of(node)
        if func == "lookup":
            return self._lookup(node, want)
        if func == "ticks":
            amount, symbol = (self.emit(a) for a in node.args)
            return f"{self.bind(runtime.ticks)}({amount}, ctx.funcs.tick_value({symbol}))"
        # the numeric builtins unify int with number
        args = [self.coerced(a, want) if want == NUMBER else self.emit(a) for a in node.args]
        if func in _ROUNDING:
            money = want == MONEY or any(self.type_of(a) == MONEY for a in node.args)
            return f"{self.bind(_ROUNDING[func])}({args[0]}, {money})"
        if func == "min" or func == "max":  # first of equals, as the closures' generator
            return f"{self.bind(getattr(builtins, func))}(({', '.join(args)},))"
        if func == "abs":
            return f"{self.bind(abs)}({args[0]})"
        raise _Unsupported  # pragma: no cover - a function added to the schema later

    def _lookup(self, node: ast.Call, want: Type) -> str:
        table_node, key_node, _ = node.args
        table, key, default = (self.emit(a) for a in node.args)
        if self._simple(table_node) and self._simple(key_node):  # runtime.lookup inlined
            code = (
                f"({table}[{key}] if {key} in {table} else {table}.get({key}.upper(), {default}))"
            )
        else:
            code = f"{self.bind(runtime.lookup)}({table}, {key}, {default})"
        if want == NUMBER:  # a map<int> looked up with a number default
            return f"{self.bind(Decimal)}({code})"
        return code


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
