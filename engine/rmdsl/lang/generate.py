"""The Python source generator behind the one back end, and constant folding.

codegen.py (the compile pass) turns conditions, action arguments and messages into
functions with it; the lint pass folds constants with it (`constant_value`), so both
passes share one semantics without importing each other.

The one back end (docs/performance.md, "Expression evaluation"): every expression a ruleset holds
becomes Python source compiled once at load time, so a rule costs what the hand-written
Python would (docs/performance.md). Operators, attribute paths and functions are resolved
here; constant subtrees are folded by running their own generated code once. Semantics:
rmdsl.lang.runtime, checked against the reference interpreter in tests/lang.

A param is read as `ctx.params[name]`: the engine binds every declared param before any
rule runs, so a missing one is an engine bug and raises, reported as an error of the rule
(docs/engine.md, "When a rule errors"), rather than silently using the declared value.
Nothing here swallows an evaluation error. Subtrees nested deeper than _SPLIT levels become
helper functions generated the same way, so Python's parser limits are never reached.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rmdsl.errors import CheckError
from rmdsl.lang import ast, runtime
from rmdsl.lang.ast import BinaryOp, UnaryOp
from rmdsl.lang.checked import CheckedExpr
from rmdsl.lang.context import EvalContext
from rmdsl.lang.functions import FUNCTIONS
from rmdsl.lang.schema import NAMES
from rmdsl.lang.types import CYCLIC, DURATION, MONEY, NUMBER, NUMERIC, Type

_SPLIT = 24  # AST levels per generated function: well inside CPython's 200 nested brackets
_INFIX = {BinaryOp.ADD: "+", BinaryOp.SUB: "-"}
_ROUNDING = {"round": runtime.round_value, "floor": runtime.floor_value, "ceil": runtime.ceil_value}
_PURE = frozenset({"abs", "min", "max", "round", "floor", "ceil"})  # foldable functions
assert _PURE <= set(FUNCTIONS)


class _Unset:
    """The fold of a subtree that reads state (a sentinel no value can equal)."""


UNSET: Any = _Unset()


def constant_value(checked: CheckedExpr) -> object:
    """The folded value of an expression that reads no engine state, else None."""
    value = Gen.of(checked).const(checked.expr)
    return None if value is UNSET else value


class Gen:
    def __init__(self, label: str) -> None:
        self.filename = f"<rmdsl {label}>"
        self.types: dict[int, Type] = {}
        self.namespace: dict[str, Any] = {"__builtins__": {}}
        self.consts: dict[int, object] = {}
        self.level = 0

    @classmethod
    def of(cls, checked: CheckedExpr) -> Gen:
        gen = cls(checked.env.path)
        gen.adopt(checked)
        return gen

    def adopt(self, checked: CheckedExpr) -> None:
        if not checked.ok:
            raise CheckError(checked.errors)
        self.types.update(checked.types)

    def type_of(self, node: ast.Expr) -> Type:
        return self.types[id(node)]

    def bind(self, value: object) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def define(self, body: str) -> Callable[[EvalContext], Any]:
        """`def f(ctx): return <body>`, compiled under the rule file's name."""
        name = f"_f{len(self.namespace)}"
        code = compile(f"def {name}(ctx):\n    return {body}\n", self.filename, "exec")
        exec(code, self.namespace)
        fn: Callable[[EvalContext], Any] = self.namespace.pop(name)
        return fn

    # constants ---------------------------------------------------------------------------
    def const(self, node: ast.Expr) -> object:
        key = id(node)
        if key not in self.consts:
            self.consts[key] = self._fold(node)
        return self.consts[key]

    def _fold(self, node: ast.Expr) -> object:
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Binary) and node.op in (BinaryOp.AND, BinaryOp.OR):
            decisive = node.op is BinaryOp.OR  # `x or true` is true, `x and false` is false
            if any(self.const(side) is decisive for side in (node.left, node.right)):
                return decisive
        for sub in node.walk():
            if isinstance(sub, ast.Name | ast.Range):
                return UNSET
            if isinstance(sub, ast.Call) and sub.func not in _PURE:
                return UNSET
        try:
            return self.define(self._emit(node))(EvalContext())
        except Exception:  # folded at run time instead, where the error is the rule's
            return UNSET

    def _simple(self, node: ast.Expr) -> bool:
        """Cheap to evaluate twice: a name or a constant."""
        return isinstance(node, ast.Name) or self.const(node) is not UNSET

    # nodes -------------------------------------------------------------------------------
    def emit(self, node: ast.Expr) -> str:
        value = self.const(node)
        if value is not UNSET:
            return self.bind(value)
        if self.level >= _SPLIT:  # a helper function keeps the nesting of each one small
            saved, self.level = self.level, 0
            helper = self.define(self.emit(node))
            self.level = saved
            return f"{self.bind(helper)}(ctx)"
        self.level += 1
        try:
            return self._emit(node)
        finally:
            self.level -= 1

    def _emit(self, node: ast.Expr) -> str:
        match node:
            case ast.Literal(value=value):
                return self.bind(value)
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
        raise TypeError(f"no code for {type(node).__name__}")  # a Range is emitted by its In

    def coerced(self, node: ast.Expr, want: Type) -> str:
        """Widen an int to Decimal where the checker unified to number."""
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
        cyclic = self.type_of(box) in CYCLIC
        if start is UNSET or end is UNSET:  # bounds read state: decided per call
            lo, hi = self.emit(box.start), self.emit(box.end)
            return f"{self.bind(runtime.in_range)}({item}, {lo}, {hi}, {cyclic})"
        lo, hi = self.bind(start), self.bind(end)
        if cyclic and start > end:  # type: ignore[operator]
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
        if func == "min" or func == "max":  # the first of equal values, as Python's
            return f"{self.bind(getattr(builtins, func))}(({', '.join(args)},))"
        if func == "abs":
            return f"{self.bind(abs)}({args[0]})"
        raise TypeError(f"no code for the function {func}")  # added to the schema, not here

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


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
