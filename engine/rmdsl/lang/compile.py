"""CheckedExpr -> closures over EvalContext (Predicate / Getter).

A checked expression's operators are total (rmdsl.lang.runtime), so a
compiled one raises only on what the checker cannot see (a runtime function
failing, a value out of range, an engine bug). It is NOT swallowed here: the
engine reports it as an error of the rule (docs/engine.md, "When a rule
errors"), which a silent False would hide.

Operators, attribute paths, params and functions are resolved here, once;
constant subtrees are folded; the common shapes (a name compared with a
constant) become a single closure. Semantics: rmdsl.lang.runtime.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rmdsl.errors import CheckError
from rmdsl.lang import ast, runtime
from rmdsl.lang.ast import BinaryOp, UnaryOp
from rmdsl.lang.check import CheckedExpr
from rmdsl.lang.codegen import generate_predicate
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import FUNCTIONS, NAMES
from rmdsl.lang.shapes import _OPS, arith_impl, compare_pair, predicate_pair
from rmdsl.lang.types import MONEY, NUMBER, Type
from rmdsl.lang.typing_rules import CYCLIC
from rmdsl.types import Getter, Predicate

Fn = Callable[[EvalContext], Any]

_CMP = _OPS


def compile_expression(checked: CheckedExpr) -> Getter:
    """A getter for the expression's value; an evaluation error propagates to the caller."""
    getter: Getter = _Compiler(checked).compile(checked.expr)
    return getter


def compile_predicate(checked: CheckedExpr) -> Predicate:
    """A predicate: True only when the condition evaluates to true; errors propagate."""
    compiler = _Compiler(checked)
    node = checked.expr
    if compiler.is_const(node):
        value = compiler.const_value(node) is True
        return lambda ctx: value
    generated = generate_predicate(
        node,
        compiler.const_value,
        _NOT_CONST,
        compiler.type_of,
        lambda box: compiler.type_of(box) in CYCLIC,
        checked.env.path,
    )
    if generated is not None:
        return generated
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        special = predicate_pair(node.ops[0], *compiler.operand_pair(node), unset=_NOT_CONST)
        if special is not None:
            return special
    fn = compiler.compile(node)
    return lambda ctx: fn(ctx) is True


_NOT_CONST = object()


class _Compiler:
    def __init__(self, checked: CheckedExpr) -> None:
        if not checked.ok:
            raise CheckError(checked.errors)
        self.checked = checked
        self.consts: dict[int, object] = {}
        self._dynamic: dict[int, bool] = {}

    # constants ------------------------------------------------------------------
    def is_const(self, node: ast.Expr) -> bool:
        return self.const_value(node) is not _NOT_CONST

    def const_value(self, node: ast.Expr) -> object:
        key = id(node)
        if key not in self.consts:
            self.consts[key] = self._fold(node)
        return self.consts[key]

    def _fold(self, node: ast.Expr) -> object:
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Binary) and node.op in (BinaryOp.AND, BinaryOp.OR):
            decisive = node.op is BinaryOp.OR  # `x or true` is true, `x and false` is false
            if any(self.const_value(side) is decisive for side in (node.left, node.right)):
                return decisive
        for sub in node.walk():
            if isinstance(sub, ast.Name) or (isinstance(sub, ast.Call) and sub.func not in _PURE):
                return _NOT_CONST
        try:
            return self._build(node)(EvalContext())
        except Exception:
            return _NOT_CONST

    def operand_pair(self, node: ast.Compare) -> tuple[Fn, object, Fn, object]:
        left, right = node.operands
        return (
            self.compile(left),
            self.const_value(left),
            self.compile(right),
            self.const_value(right),
        )

    # dispatch ---------------------------------------------------------------------
    def compile(self, node: ast.Expr) -> Fn:
        value = self.const_value(node)
        if value is not _NOT_CONST:
            return lambda ctx: value
        return self._build(node)

    def _build(self, node: ast.Expr) -> Fn:
        method: Callable[[Any], Fn] = getattr(self, f"_compile_{type(node).__name__}")
        return method(node)

    def type_of(self, node: ast.Expr) -> Type:
        return self.checked.types[id(node)]

    def _coerced(self, node: ast.Expr, want: Type) -> Fn:
        """Compile `node`; widen an int to Decimal where the checker unified to number."""
        fn = self.compile(node)
        if want == NUMBER and self.type_of(node) != NUMBER:
            return lambda ctx: Decimal(fn(ctx))
        return fn

    # leaves -------------------------------------------------------------------------
    def _compile_Literal(self, node: ast.Literal) -> Fn:
        value = node.value
        return lambda ctx: value

    def _compile_Name(self, node: ast.Name) -> Fn:
        if node.path.startswith("params."):
            key = node.path.removeprefix("params.")
            default = self.checked.env.params[key][1]
            return lambda ctx: ctx.params.get(key, default)
        return operator.attrgetter(NAMES[node.path].attr_path)

    def _compile_ListLit(self, node: ast.ListLit) -> Fn:
        want = self.type_of(node).elem or NUMBER
        items = tuple(self._coerced(item, want) for item in node.items)
        return lambda ctx: tuple(item(ctx) for item in items)

    # operators ----------------------------------------------------------------------
    def _compile_Unary(self, node: ast.Unary) -> Fn:
        operand = self.compile(node.operand)
        if node.op is UnaryOp.NOT:
            return lambda ctx: not operand(ctx)
        return lambda ctx: -operand(ctx)

    def _compile_Binary(self, node: ast.Binary) -> Fn:
        left, right = self.compile(node.left), self.compile(node.right)
        if node.op is BinaryOp.AND:
            return lambda ctx: left(ctx) and right(ctx)
        if node.op is BinaryOp.OR:
            return lambda ctx: left(ctx) or right(ctx)
        impl = arith_impl(node.op, self.type_of(node.left), self.type_of(node.right))
        return lambda ctx: impl(left(ctx), right(ctx))

    def _compile_Compare(self, node: ast.Compare) -> Fn:
        if len(node.ops) == 1:
            return compare_pair(node.ops[0], *self.operand_pair(node), unset=_NOT_CONST)
        operands = tuple(self.compile(x) for x in node.operands)
        ops = tuple(_CMP[op] for op in node.ops)

        def chain(ctx: EvalContext) -> bool:
            left = operands[0](ctx)
            for op, operand in zip(ops, operands[1:], strict=True):
                right = operand(ctx)
                if not op(left, right):
                    return False
                left = right
            return True

        return chain

    def _compile_Range(self, node: ast.Range) -> Fn:
        raise TypeError("a Range is compiled by its In")  # pragma: no cover

    def _compile_In(self, node: ast.In) -> Fn:
        item = self.compile(node.item)
        negated = node.negated
        container = node.container
        if isinstance(container, ast.Range):
            start, end = self.compile(container.start), self.compile(container.end)
            cyclic = self.type_of(container) in CYCLIC
            if negated:
                return lambda ctx: not runtime.in_range(item(ctx), start(ctx), end(ctx), cyclic)
            return lambda ctx: runtime.in_range(item(ctx), start(ctx), end(ctx), cyclic)
        value = self.const_value(container)
        if isinstance(value, tuple) and all(_hashable(v) for v in value):
            members = frozenset(value)
            if negated:
                return lambda ctx: item(ctx) not in members
            return lambda ctx: item(ctx) in members
        if self.type_of(container).is_map:
            table = self.compile(container)
            if negated:
                return lambda ctx: item(ctx) not in table(ctx)
            return lambda ctx: item(ctx) in table(ctx)
        items = self.compile(container)
        if negated:
            return lambda ctx: item(ctx) not in items(ctx)
        return lambda ctx: item(ctx) in items(ctx)

    def _compile_Matches(self, node: ast.Matches) -> Fn:
        subject = self.compile(node.subject)
        pattern = self.const_value(node.pattern)
        if isinstance(pattern, str):
            match = runtime.glob_regex(pattern).match
            return lambda ctx: match(subject(ctx)) is not None
        dynamic = self.compile(node.pattern)
        return lambda ctx: runtime.matches(subject(ctx), dynamic(ctx))

    def _compile_IfElse(self, node: ast.IfElse) -> Fn:
        want = self.type_of(node)
        body, orelse = self._coerced(node.body, want), self._coerced(node.orelse, want)
        test = self.compile(node.test)
        return lambda ctx: body(ctx) if test(ctx) else orelse(ctx)

    def _compile_Call(self, node: ast.Call) -> Fn:
        want = self.type_of(node)
        func = node.func
        # only the numeric builtins unify int with number; ticks(money, symbol) keeps its types
        unify = want == NUMBER and func in _PURE_IMPL
        args = tuple(self._coerced(a, want if unify else self.type_of(a)) for a in node.args)
        if func in _PURE_IMPL:
            return _PURE_IMPL[func](args, want == MONEY or self._arg_is_money(node))
        if func == "lookup":
            table, key, default = args
            if want == NUMBER:  # a map<int> looked up with a number default
                return lambda ctx: Decimal(runtime.lookup(table(ctx), key(ctx), default(ctx)))  # type: ignore[arg-type]
            return lambda ctx: runtime.lookup(table(ctx), key(ctx), default(ctx))
        if func == "ticks":
            money, symbol = args
            return lambda ctx: runtime.ticks(money(ctx), ctx.funcs.tick_value(symbol(ctx)))
        (arg,) = args
        name = func  # looked up per call: ctx.funcs is the account's, bound by the engine
        return lambda ctx: getattr(ctx.funcs, name)(arg(ctx))

    def _arg_is_money(self, node: ast.Call) -> bool:
        return any(self.type_of(a) == MONEY for a in node.args)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


_PURE = frozenset({"abs", "min", "max", "round", "floor", "ceil"})


def _unary_fn(f: Callable[[Any, bool], Any]) -> Callable[[tuple[Fn, ...], bool], Fn]:
    def build(args: tuple[Fn, ...], money: bool) -> Fn:
        (arg,) = args
        return lambda ctx: f(arg(ctx), money)

    return build


def _abs(args: tuple[Fn, ...], money: bool) -> Fn:
    (arg,) = args
    return lambda ctx: abs(arg(ctx))


def _min(args: tuple[Fn, ...], money: bool) -> Fn:
    return lambda ctx: min(a(ctx) for a in args)


def _max(args: tuple[Fn, ...], money: bool) -> Fn:
    return lambda ctx: max(a(ctx) for a in args)


_PURE_IMPL: dict[str, Callable[[tuple[Fn, ...], bool], Fn]] = {
    "abs": _abs,
    "min": _min,
    "max": _max,
    "round": _unary_fn(runtime.round_value),
    "floor": _unary_fn(runtime.floor_value),
    "ceil": _unary_fn(runtime.ceil_value),
}

assert _PURE <= set(FUNCTIONS)


def constant_value(checked: CheckedExpr) -> object:
    """The folded value of an expression that reads no engine state, else None."""
    value = _Compiler(checked).const_value(checked.expr)
    return None if value is _NOT_CONST else value
