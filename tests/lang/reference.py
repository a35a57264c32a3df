"""A plain tree-walking interpreter of checked expressions: the oracle the generated code is
tested against. Written independently of rmdsl.lang.codegen (no code, no folding)."""

from __future__ import annotations

import fnmatch
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from rmdsl.lang import ast
from rmdsl.lang.check import CheckedExpr
from rmdsl.lang.context import EvalContext
from rmdsl.lang.types import DURATION, INT, MONEY, NUMBER, TIME, WEEKDAY


class Reference:
    def __init__(self, checked: CheckedExpr) -> None:
        self.checked = checked

    def run(self, ctx: EvalContext) -> Any:
        return self.eval(self.checked.expr, ctx)

    def typ(self, node: ast.Expr) -> Any:
        return self.checked.types[id(node)]

    def eval(self, node: ast.Expr, ctx: EvalContext) -> Any:
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Name):
            if node.path.startswith("params."):
                return ctx.params[node.path[len("params.") :]]
            obj: Any = ctx
            parts = node.path.split(".")
            if parts == ["now"]:
                parts = ["now", "value"]
            for part in parts:
                obj = getattr(obj, part)
            return obj
        if isinstance(node, ast.Unary):
            value = self.eval(node.operand, ctx)
            return (not value) if node.op is ast.UnaryOp.NOT else -value
        if isinstance(node, ast.Binary):
            return self.binary(node, ctx)
        if isinstance(node, ast.Compare):
            values = [self.eval(x, ctx) for x in node.operands]
            for i, op in enumerate(node.ops):
                if not compare(op, values[i], values[i + 1]):
                    return False
            return True
        if isinstance(node, ast.In):
            return self.contains(node, ctx) != node.negated
        if isinstance(node, ast.Matches):
            subject, pattern = self.eval(node.subject, ctx), self.eval(node.pattern, ctx)
            globs = pattern if isinstance(pattern, tuple) else (pattern,)
            return any(fnmatch.fnmatchcase(subject.lower(), g.lower()) for g in globs)
        if isinstance(node, ast.IfElse):
            branch = node.body if self.eval(node.test, ctx) else node.orelse
            return self.widen(branch, self.eval(branch, ctx), self.typ(node))
        if isinstance(node, ast.ListLit):
            elem = self.typ(node).elem
            return tuple(self.widen(i, self.eval(i, ctx), elem) for i in node.items)
        if isinstance(node, ast.Call):
            return self.call(node, ctx)
        raise TypeError(node)

    def widen(self, node: ast.Expr, value: Any, want: Any) -> Any:
        if want == NUMBER and self.typ(node) == INT:
            return Decimal(value)
        return value

    def widen_value(self, value: Any, want: Any) -> Any:
        return Decimal(value) if want == NUMBER and isinstance(value, int) else value

    def binary(self, node: ast.Binary, ctx: EvalContext) -> Any:
        op = node.op
        if op is ast.BinaryOp.AND:
            return bool(self.eval(node.left, ctx)) and bool(self.eval(node.right, ctx))
        if op is ast.BinaryOp.OR:
            return bool(self.eval(node.left, ctx)) or bool(self.eval(node.right, ctx))
        a, b = self.eval(node.left, ctx), self.eval(node.right, ctx)
        ta, result = self.typ(node.left), self.typ(node)
        if op is ast.BinaryOp.ADD:
            return a + b
        if op is ast.BinaryOp.SUB:
            return a - b
        if op is ast.BinaryOp.MUL:
            if result == DURATION:
                ms, k = (a, b) if ta == DURATION else (b, a)
                return ms * k if isinstance(k, int) else whole_ms(Decimal(ms) * k)
            return a * b
        if op is ast.BinaryOp.DIV:
            if b == 0:
                return 0 if result == DURATION else Decimal(0)
            if result == DURATION:
                return whole_ms(Decimal(a) / Decimal(b))
            return Decimal(a) / Decimal(b)
        # modulo, floor semantics
        if b == 0:
            return 0 if result in (INT, DURATION) else Decimal(0)
        if result in (INT, DURATION):
            return a % b
        q = math.floor(Decimal(a) / Decimal(b))
        return Decimal(a) - Decimal(b) * q

    def contains(self, node: ast.In, ctx: EvalContext) -> bool:
        item = self.eval(node.item, ctx)
        box = node.container
        if isinstance(box, ast.Range):
            lo, hi = self.eval(box.start, ctx), self.eval(box.end, ctx)
            if self.typ(box) in (TIME, WEEKDAY) and lo > hi:
                return item >= lo or item < hi
            return lo <= item < hi
        return any(item == member for member in self.eval(box, ctx))

    def call(self, node: ast.Call, ctx: EvalContext) -> Any:
        args = [self.eval(a, ctx) for a in node.args]
        f, money = node.func, self.typ(node) == MONEY
        if f in ("min", "max"):
            want = self.typ(node)
            args = [self.widen(a, v, want) for a, v in zip(node.args, args, strict=True)]
            return min(args) if f == "min" else max(args)
        if f == "abs":
            return abs(args[0])
        if f in ("round", "floor", "ceil"):
            v = args[0]
            if isinstance(v, int):
                return v
            mode = {"round": ROUND_HALF_EVEN, "floor": ROUND_FLOOR, "ceil": ROUND_CEILING}[f]
            if money:
                return v.quantize(Decimal("0.01"), rounding=mode)
            return int(v.to_integral_value(rounding=mode))
        if f == "lookup":
            table, key, default = args
            for candidate in (key, key.upper()):
                if candidate in table:
                    return self.widen_value(table[candidate], self.typ(node))
            return self.widen_value(default, self.typ(node))
        if f == "ticks":
            tv = ctx.funcs.tick_value(args[1])
            return Decimal(0) if tv == 0 else args[0] / tv
        return getattr(ctx.funcs, f)(*args)


def compare(op: ast.CompareOp, a: Any, b: Any) -> bool:
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op.value]


def whole_ms(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))
