"""CheckedExpr -> warnings (RM8xx) for likely mistakes: zero divisors, wrong-sign loss limits,
conditions that can never or always hold, expressions that can fail or run away at run time
(docs/engine.md, "When a rule errors": what can fail and how to guard it)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rmdsl.errors import Diagnostic, Severity
from rmdsl.lang import ast
from rmdsl.lang.ast import BinaryOp, CompareOp
from rmdsl.lang.checked import CheckedExpr
from rmdsl.lang.diagnostic_codes import CODES
from rmdsl.lang.functions import FUNCTIONS
from rmdsl.lang.generate import constant_value
from rmdsl.lang.schema import ACCOUNT_SIZE, MLL_DISTANCE
from rmdsl.lang.types import BOOL, CYCLIC, DURATION, MONEY, NUMBER, Type

# names holding P&L that loss limits compare against
PNL_NAMES = frozenset(
    {
        "day.realized_pnl",
        "day.gross_pnl",
        "day.unrealized_pnl",
        "day.pnl",
        "positions.unrealized_pnl",
        "position.unrealized_pnl",
        "trade.pnl",
        "trade.gross_pnl",
    }
)
_UNSET = object()
# the account.* names that are $0 (or wrong) without a param (rmdsl.engine.account)
ACCOUNT_NAME_PARAMS = {
    "account.mll": MLL_DISTANCE,
    "account.to_mll": MLL_DISTANCE,
    "account.start_balance": ACCOUNT_SIZE,
}


def lint_expression(checked: CheckedExpr) -> tuple[Diagnostic, ...]:
    """The warnings of an expression that checked without errors (the lint pass's part)."""
    if not checked.ok:
        return ()
    source = checked.env.source
    warnings = _Linter(checked).run()
    return tuple(w.with_source(source) if source is not None else w for w in warnings)


class _Linter:
    def __init__(self, checked: CheckedExpr) -> None:
        self.checked = checked
        self.path = checked.env.path
        self.params = checked.env.params
        self.diags: list[Diagnostic] = []

    def warn(self, code: str, message: str, node: ast.Expr, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, message, self.path, node.span, Severity.WARNING, hint))

    def run(self) -> list[Diagnostic]:
        root = self.checked.expr
        for node in root.walk():
            if isinstance(node, ast.Binary) and node.op in (BinaryOp.DIV, BinaryOp.MOD):
                self._divisor(node.right)
            if _decimal_step(node, self.checked.types):
                self._precision(node)
            elif isinstance(node, ast.Compare):
                self._loss_limit(node)
            elif isinstance(node, ast.In) and isinstance(node.container, ast.Range):
                self._range(node.container)
            elif isinstance(node, ast.Name) and node.path in ACCOUNT_NAME_PARAMS:
                self._account_param(node)
        if isinstance(root, ast.Binary) and root.op is BinaryOp.AND:
            self._bounds(root)
        if self.checked.type == BOOL and self.checked.env.expected == BOOL:
            self._constant_condition(root)
        if self.checked.env.expected == DURATION and not self._bounded(root):
            hint = "bound it, e.g. `min(<this expression>, 4h)`"
            message = f"{CODES['RM807']}: it grows with the state it reads"
            self.warn("RM807", message, root, hint)
        return self.diags

    def _account_param(self, node: ast.Name) -> None:
        """RM808: account.mll / to_mll / start_balance read a param the ruleset lacks."""
        param = ACCOUNT_NAME_PARAMS[node.path]
        if param not in self.params:
            message = f"{CODES['RM808']}: `{node.path}` needs `params.{param}`"
            example = "$2000" if param == MLL_DISTANCE else "$50000"
            hint = f'declare it, e.g. `{param}: {example}` (docs/language.md, "Account")'
            self.warn("RM808", message, node, hint)

    def _precision(self, node: ast.Expr) -> None:
        """RM806: `%` or round()/floor()/ceil() of exact decimals raises past 28 digits."""
        for sub in node.walk():
            value = self.constant(sub)
            if isinstance(value, bool) or not isinstance(value, int | Decimal) or value == 0:
                continue
            size = abs(Decimal(value))
            if size >= _HUGE or size < _TINY:
                what = "`%`" if isinstance(node, ast.Binary) else f"`{getattr(node, 'func', '')}`"
                message = (
                    f"{CODES['RM806']}: {what} of exact decimals raises past 28 digits, "
                    f"and the constant {value} takes it there"
                )
                hint = "keep the values within 18 digits (rescale the constant)"
                self.warn("RM806", message, node, hint)
                return

    def _bounded(self, node: ast.Expr) -> bool:
        """A duration that cannot run away: no engine state read, a min() with a constant
        bound, or if/else of bounded branches."""
        if not _reads_state(node):
            return True
        if isinstance(node, ast.Call) and node.func == "min":
            return any(not _reads_state(a) for a in node.args)
        if isinstance(node, ast.IfElse):
            return self._bounded(node.body) and self._bounded(node.orelse)
        return False

    def constant(self, node: ast.Expr) -> object:
        """The value of a node that reads no engine state (params count as constants here)."""
        if isinstance(node, ast.Literal):
            return node.value
        if isinstance(node, ast.Name) and node.path.startswith("params."):
            declared = self.params.get(node.path.removeprefix("params."))
            return declared[1] if declared else _UNSET
        if isinstance(node, ast.Unary) and node.op is ast.UnaryOp.NEG:
            inner = self.constant(node.operand)
            return -inner if isinstance(inner, int | Decimal) else _UNSET
        return _UNSET

    def _divisor(self, node: ast.Expr) -> None:
        value = self.constant(node)
        if value is not _UNSET:
            if value == 0:
                self.warn("RM800", f"{CODES['RM800']}: it is 0; the result is always 0", node)
            return
        if isinstance(node, ast.Name | ast.Call):
            what = node.path if isinstance(node, ast.Name) else f"{node.func}(...)"
            hint = "when it is 0 the division gives 0; guard it, e.g. `x if d != 0 else ...`"
            self.warn("RM800", f"{CODES['RM800']}: `{what}` can be 0", node, hint)

    def _loss_limit(self, node: ast.Compare) -> None:
        for left, op, right in zip(node.operands, node.ops, node.operands[1:], strict=False):
            name, bound = (left, right) if op in (CompareOp.LE, CompareOp.LT) else (right, left)
            if op not in (CompareOp.LE, CompareOp.LT, CompareOp.GE, CompareOp.GT):
                continue
            if not (isinstance(name, ast.Name) and name.path in PNL_NAMES):
                continue
            limit = self.constant(bound)
            if isinstance(limit, Decimal) and limit > 0:
                hint = f"a loss limit is negative: write `{name.path} <= -${abs(limit)}`"
                message = f"{CODES['RM801']}: `{name.path}` at or below ${limit} fires on a profit"
                self.warn("RM801", message, node, hint)

    def _range(self, node: ast.Range) -> None:
        start, end = self.constant(node.start), self.constant(node.end)
        if start is _UNSET or end is _UNSET:
            return
        cyclic = self.checked.types.get(id(node)) in CYCLIC
        try:
            empty = start == end or (not cyclic and start > end)  # type: ignore[operator]
        except TypeError:
            return
        if empty:
            self.warn("RM804", f"{CODES['RM804']}: nothing is in [start, end)", node)

    def _bounds(self, node: ast.Binary) -> None:
        lower: dict[str, tuple[object, bool]] = {}
        upper: dict[str, tuple[object, bool]] = {}
        for conj in _conjuncts(node):
            if not (isinstance(conj, ast.Compare) and len(conj.ops) == 1):
                continue
            left, right = conj.operands
            op = conj.ops[0]
            if isinstance(left, ast.Name) and not left.path.startswith("params."):
                name, value = left.path, self.constant(right)
            elif isinstance(right, ast.Name) and not right.path.startswith("params."):
                name, value, op = right.path, self.constant(left), _MIRROR[op]
            else:
                continue
            if value is _UNSET:
                continue
            if op in (CompareOp.GT, CompareOp.GE):
                lower[name] = (value, op is CompareOp.GE)
            elif op in (CompareOp.LT, CompareOp.LE):
                upper[name] = (value, op is CompareOp.LE)
        for name in lower.keys() & upper.keys():
            (lo, lo_inc), (hi, hi_inc) = lower[name], upper[name]
            try:
                empty = lo > hi or (lo == hi and not (lo_inc and hi_inc))  # type: ignore[operator]
            except TypeError:
                continue
            if empty:
                self.warn("RM805", f"{CODES['RM805']}: `{name}` cannot be both", node)

    def _constant_condition(self, root: ast.Expr) -> None:
        value = constant_value(self.checked)
        if value is True:
            self.warn("RM803", CODES["RM803"], root, "the rule would fire on every event")
        elif value is False:
            self.warn("RM802", CODES["RM802"], root, "the rule can never fire")


_MIRROR = {
    CompareOp.EQ: CompareOp.EQ,
    CompareOp.NE: CompareOp.NE,
    CompareOp.LT: CompareOp.GT,
    CompareOp.LE: CompareOp.GE,
    CompareOp.GT: CompareOp.LT,
    CompareOp.GE: CompareOp.LE,
}


_HUGE = Decimal(10) ** 18
_TINY = Decimal(10) ** -9


def _decimal_step(node: ast.Expr, types: Mapping[int, Type]) -> bool:
    """A `%` or rounding of money/number: Decimal operations that can raise (InvalidOperation)."""
    if isinstance(node, ast.Binary) and node.op is BinaryOp.MOD:
        return any(types.get(id(x)) in (MONEY, NUMBER) for x in (node.left, node.right))
    if isinstance(node, ast.Call) and node.func in ("round", "floor", "ceil"):
        return types.get(id(node)) == MONEY or any(types.get(id(a)) == MONEY for a in node.args)
    return False


def _reads_state(node: ast.Expr) -> bool:
    """Reads the engine's state (a name that is not a param, or a runtime function)."""
    for sub in node.walk():
        if isinstance(sub, ast.Name) and not sub.path.startswith("params."):
            return True
        if isinstance(sub, ast.Call) and FUNCTIONS[sub.func].runtime:
            return True
    return False


def _conjuncts(node: ast.Expr) -> list[ast.Expr]:
    out: list[ast.Expr] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, ast.Binary) and cur.op is BinaryOp.AND:
            stack.extend((cur.right, cur.left))
        else:
            out.append(cur)
    return out
