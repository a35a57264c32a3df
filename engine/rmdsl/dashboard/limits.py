"""The limits the dashboard draws as bars, read from the ruleset itself.

A limit is a comparison in a rule's `when:` (alone or one side of a top-level
`and`) between a money name of the day or the account (`day.realized_pnl`,
`account.balance`) and a money param or a money literal, e.g.
`day.realized_pnl <= params.daily_loss`. Nothing is guessed from rule ids:
a ruleset whose rules compare nothing of the kind shows no bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rmdsl.lang import ast
from rmdsl.lang.context import EvalContext
from rmdsl.lang.types import MONEY
from rmdsl.rules.model import Rule, Ruleset

_MONEY_ROOTS = ("day.", "account.", "week.")
_FLIP = {
    ast.CompareOp.LT: ast.CompareOp.GT,
    ast.CompareOp.LE: ast.CompareOp.GE,
    ast.CompareOp.GT: ast.CompareOp.LT,
    ast.CompareOp.GE: ast.CompareOp.LE,
}


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """`name op bound`, the bound a param (`param` set) or a literal."""

    rule_id: str
    name: str  # "day.realized_pnl"
    op: ast.CompareOp  # normalised so that the name is on the left
    param: str | None
    literal: Decimal | None


def limit_specs(ruleset: Ruleset) -> tuple[LimitSpec, ...]:
    """Every limit of the enabled rules (parse errors: that rule shows no bar)."""
    from rmdsl.errors import DiagnosticError
    from rmdsl.lang.parser import parse_expression

    out: list[LimitSpec] = []
    for rule in ruleset.rules:
        if not rule.enabled:
            continue
        try:
            tree = parse_expression(rule.when_source, path=ruleset.path)
        except DiagnosticError:
            continue
        out += [s for c in _conjuncts(tree) if (s := _spec(rule, c, ruleset)) is not None]
    return tuple(out)


def _conjuncts(node: ast.Expr) -> list[ast.Expr]:
    if isinstance(node, ast.Binary) and node.op is ast.BinaryOp.AND:
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _spec(rule: Rule, node: ast.Expr, ruleset: Ruleset) -> LimitSpec | None:
    if not isinstance(node, ast.Compare) or len(node.ops) != 1 or node.ops[0] not in _FLIP:
        return None
    left, right = node.operands
    op = node.ops[0]
    if not _is_money_name(left):
        left, right, op = right, left, _FLIP[op]
    if not isinstance(left, ast.Name) or not _is_money_name(left):
        return None
    if isinstance(right, ast.Name) and right.path.startswith("params."):
        param = ruleset.params.get(right.path.removeprefix("params."))
        if param is None or param.type_name != "money":
            return None
        return LimitSpec(rule.id, left.path, op, param.name, None)
    literal = _money_literal(right)
    if literal is None:
        return None
    return LimitSpec(rule.id, left.path, op, None, literal)


def _is_money_name(node: ast.Expr) -> bool:
    return isinstance(node, ast.Name) and node.path.startswith(_MONEY_ROOTS)


def _money_literal(node: ast.Expr) -> Decimal | None:
    if isinstance(node, ast.Unary) and node.op is ast.UnaryOp.NEG:
        inner = _money_literal(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Literal) and node.type == MONEY and isinstance(node.value, Decimal):
        return node.value
    return None


def current(ctx: EvalContext, name: str) -> Decimal | None:
    """The value of `day.x` / `account.x` / `week.x` in the engine's context now; None while
    unknown (account.net and account.to_mll before the gateway reports a balance: NaN)."""
    root, _, attr = name.partition(".")
    value = getattr(getattr(ctx, root, None), attr, None)
    return value if isinstance(value, Decimal) and not value.is_nan() else None


def limit_rows(
    specs: tuple[LimitSpec, ...], ruleset: Ruleset, ctx: EvalContext
) -> list[dict[str, Any]]:
    """One bar per limit: the value now, the bound, the room left before it and the share used.

    `used` is value / bound between 0 and 1 (a loss of -$200 against -$500 is 0.4),
    `room` how far the value may still move toward the bound (<= 0: the rule fires).
    """
    rows: list[dict[str, Any]] = []
    for spec in specs:
        bound = spec.literal
        if spec.param is not None:
            value = ruleset.params[spec.param].value
            bound = value if isinstance(value, Decimal) else None
        now = current(ctx, spec.name)
        if bound is None or now is None:
            continue
        below = spec.op in (ast.CompareOp.LT, ast.CompareOp.LE)  # fires going down
        room = now - bound if below else bound - now
        used = Decimal(0) if bound == 0 else min(max(now / bound, Decimal(0)), Decimal(1))
        rows.append(
            {
                "rule": spec.rule_id,
                "name": spec.name,
                "op": spec.op.value,
                "param": spec.param,
                "limit": bound,
                "value": now,
                "room": room,
                "used": float(used),
            }
        )
    return rows
