"""Checked boolean expressions of the simple, common shapes -> one generated Python function.

Used by compile_predicate when every node is in the subset below (names,
params, constants, comparisons and chains, and/or/not, ranges, glob with a
constant pattern, runtime function calls); anything else uses the closures.
It makes a rule cost what the hand-written Python would (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rmdsl.lang import ast, runtime
from rmdsl.lang.ast import BinaryOp, UnaryOp
from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import FUNCTIONS, NAMES

Folder = Callable[[ast.Expr], object]


class _Unsupported(Exception):
    pass


def generate_predicate(
    expr: ast.Expr, const: Folder, unset: object, cyclic: Callable[[ast.Range], bool], label: str
) -> Callable[[EvalContext], bool] | None:
    """A total predicate for `expr`, or None when `expr` leaves the supported subset."""
    gen = _Gen(const, unset, cyclic)
    try:
        body = gen.emit(expr)
    except _Unsupported:
        return None
    source = "\n".join(
        [
            "def _predicate(ctx):",
            "    try:",
            f"        return {body}",
            "    except Exception:",
            "        return False",
        ]
    )
    namespace: dict[str, Any] = {"__builtins__": {}, **gen.bound}
    exec(compile(source, f"<rmdsl {label}>", "exec"), namespace)
    fn: Callable[[EvalContext], bool] = namespace["_predicate"]
    return fn


class _Gen:
    def __init__(self, const: Folder, unset: object, cyclic: Callable[[ast.Range], bool]) -> None:
        self.const, self.unset, self.cyclic = const, unset, cyclic
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
            case ast.Unary(op=UnaryOp.NOT, operand=x):
                return f"(not {self.emit(x)})"
            case ast.In(negated=neg, item=item, container=ast.Range() as box):
                test = self._range(self.emit(item), box)
                return f"(not {test})" if neg else test
            case ast.Matches(subject=subject, pattern=pattern):
                glob = self.const(pattern)
                if not isinstance(glob, str):
                    raise _Unsupported
                match_fn = self.bind(runtime.glob_regex(glob).match)
                return f"({match_fn}({self.emit(subject)}) is not None)"
            case ast.Call(func=func, args=args) if FUNCTIONS[func].runtime:
                return f"ctx.funcs.{func}({', '.join(self.emit(a) for a in args)})"
        raise _Unsupported

    def _range(self, item: str, box: ast.Range) -> str:
        start, end = self.const(box.start), self.const(box.end)
        if start is self.unset or end is self.unset:
            raise _Unsupported
        lo, hi = self.bind(start), self.bind(end)
        if self.cyclic(box) and start > end:  # type: ignore[operator]
            return f"({item} >= {lo} or {item} < {hi})"
        return f"({lo} <= {item} < {hi})"
