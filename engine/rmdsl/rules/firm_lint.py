"""RM855: a personal limit that can never act before the firm's (docs/rules.md, "A personal
limit the firm's always beats").

A ruleset on a firm profile (a base whose rules are locked: rulesets/topstep/50k.yaml) adds
the trader's own limits. One that the firm's rule always reaches first protects nothing: a
personal daily loss larger than the MLL distance of a fresh account, a personal flatten
later in the trading day than the firm's, a personal contract limit at or above the firm's.
It is a warning, not an error (the ruleset still runs and the firm's rule still acts), and it
shows both lines: the personal rule where the caret is, the firm's rule in a note.

"Firm" is a locked rule; "personal" is any other rule written in a file that is neither the
locking file nor one of its bases. Only conditions of the simple shapes below are compared
(one conjunct of a top-level `and`, against a literal or a param): anything else is left alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from rmdsl.errors import Diagnostic, Severity
from rmdsl.lang import ast
from rmdsl.lang.format import format_value
from rmdsl.lang.printer import print_expression
from rmdsl.lang.types import MONEY, TIME, Type
from rmdsl.lang.yaml_loader import YScalar
from rmdsl.rules.extends import Merged
from rmdsl.rules.stages import CheckedRule
from rmdsl.rules.values import Report

# how much the firm's counts are (same name on both sides: a gross count is not compared with
# a mini-equivalent one, whose micros weigh 1/10)
COUNTS = frozenset(
    {
        "positions.contracts",
        "positions.mini_equivalents",
        "positions.exposure",
        "positions.exposure_mini_equivalents",
    }
)
LOSSES = frozenset({"day.realized_pnl", "day.pnl", "week.realized_pnl", "week.pnl"})
MLL_NAMES = frozenset({"account.to_mll"})
# the param that holds the MLL's distance below the starting balance (rmdsl.engine.account)
MLL_DISTANCE_PARAM = "mll_distance"
FLATTENING = frozenset({"flatten", "lockout", "close_position"})
_DAY = 24 * 3600
MLL = "loss:mll"


@dataclass(frozen=True, slots=True)
class Limit:
    """One comparable conjunct of a rule: `kind` with the value where it starts to act."""

    kind: str  # a count name, "loss:<name>" (money lost), "loss:mll" or "time" (seconds after
    # the reset)
    at: Decimal | int  # the threshold, in the kind's unit
    strict: bool  # acts only past `at` (`>`), not at it (`>=`)
    shown: str  # the threshold as the trader reads it
    rule: str
    node: YScalar  # the `when` as written
    text: str  # the conjunct, printed
    source: str = ""  # `, params.x = 6 (file:line)` when the threshold is a param


def lint_firm_limits(merged: Merged, rules: tuple[CheckedRule, ...], report: Report) -> None:
    """Warn (RM855) for each personal limit some firm limit of its kind always beats."""
    if not any(r.locked_by is not None for r in merged.rules.values()):
        return
    bases = {doc.path: {doc.path, *doc.bases} for doc in merged.docs}
    enabled = {r.id: r for r in rules if r.enabled}
    firm: list[tuple[Limit, str]] = []  # (limit, the locking file)
    personal: list[Limit] = []
    reset = _reset(merged)
    for rule_id, rule in enabled.items():
        entry = merged.rules[rule_id].fields.get("when")
        if entry is None or not isinstance(entry.value, YScalar):
            continue
        limits = list(_limits(rule, entry.value, merged, reset))
        lock = merged.rules[rule_id].locked_by
        if lock is not None:
            firm.extend((limit, lock.key.path) for limit in limits)
        personal.extend(limits)
    for mine in personal:
        for theirs, locker in firm:
            if _comparable(mine, theirs) and mine.node.path not in bases.get(locker, {locker}):
                if _never_first(mine, theirs):
                    report.diagnostics.append(_warning(mine, theirs, locker))
                    break


def _comparable(mine: Limit, theirs: Limit) -> bool:
    """The same measure; or a loss of the day or week against the MLL, whose net (balance and
    open P&L) has lost at least as much when a realized or combined loss is reached."""
    return mine.kind == theirs.kind or (theirs.kind == MLL and mine.kind.startswith("loss:"))


def _never_first(mine: Limit, theirs: Limit) -> bool:
    """Every value at which `mine` acts is one at which `theirs` already acts."""
    if mine.at > theirs.at:
        return True
    return mine.at == theirs.at and (mine.strict or not theirs.strict)


def _warning(mine: Limit, theirs: Limit, locker: str) -> Diagnostic:
    message = (
        f"personal limit `{mine.rule}` ({_acts(mine)}) can never act before the firm's "
        f"`{theirs.rule}` ({_acts(theirs)}{_fresh(theirs)})"
    )
    locked = "" if theirs.node.path == locker else f" (locked in {locker})"
    notes = (
        f"personal: {_line(mine)}: `{mine.text}`{mine.source}",
        f"firm: {_line(theirs)}: `{theirs.text}`{theirs.source}{locked}",
    )
    hint = f"make `{mine.rule}` act before the firm's limit, or remove it: the firm's acts first"
    return Diagnostic(
        "RM855", message, mine.node.path, mine.node.span, Severity.WARNING, hint, notes=notes
    )


def _acts(limit: Limit) -> str:
    if limit.kind.startswith("loss:"):
        return f"acts at a loss of {limit.shown}"
    if limit.kind == "time":
        return f"acts at {limit.shown}"
    return f"acts at {limit.kind} {'>' if limit.strict else '>='} {limit.shown}"


def _fresh(limit: Limit) -> str:
    return " on a fresh account" if limit.kind == MLL else ""


def _line(limit: Limit) -> str:
    return f"{limit.node.path}:{limit.node.span.line}"


def _limits(rule: CheckedRule, node: YScalar, merged: Merged, reset: dt.time) -> Iterator[Limit]:
    acts = [a.name for a in rule.actions if a.name != "alert"]
    if not acts:
        return
    for part in _conjuncts(rule.when.expr):
        found = _shape(part, merged, reset)
        if found is None:
            continue
        kind, at, strict, shown = found
        if kind == "time" and not FLATTENING.intersection(acts):
            continue
        text = print_expression(part)
        yield Limit(kind, at, strict, shown, rule.id, node, text, _param_source(part, merged))


def _conjuncts(node: ast.Expr) -> Iterator[ast.Expr]:
    if isinstance(node, ast.Binary) and node.op is ast.BinaryOp.AND:
        yield from _conjuncts(node.left)
        yield from _conjuncts(node.right)
    else:
        yield node


def _shape(
    node: ast.Expr, merged: Merged, reset: dt.time
) -> tuple[str, Decimal | int, bool, str] | None:
    """(kind, threshold, strict, shown) of `name OP value` or `now.time in T..X`, else None."""
    if isinstance(node, ast.In) and not node.negated and isinstance(node.container, ast.Range):
        if _name(node.item) == "now.time":
            return _time(node.container.start, False, merged, reset)
        return None
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        return None
    op, (left, right) = node.ops[0], node.operands
    name = _name(left)
    if name is None:  # `5 < positions.contracts`: the mirror image
        name, left, right = _name(right), right, left
        op = _MIRROR.get(op, op)
    if name in COUNTS and op in (ast.CompareOp.GT, ast.CompareOp.GE):
        return _count(name, right, op is ast.CompareOp.GT, merged)
    if name in LOSSES and op in (ast.CompareOp.LE, ast.CompareOp.LT):
        return _loss(name, right, op is ast.CompareOp.LT, merged)
    if name in MLL_NAMES and op in (ast.CompareOp.LE, ast.CompareOp.LT):
        return _mll(right, op is ast.CompareOp.LT, merged)
    if name == "now.time" and op in (ast.CompareOp.GT, ast.CompareOp.GE):
        return _time(right, op is ast.CompareOp.GT, merged, reset)
    return None


_MIRROR = {
    ast.CompareOp.LT: ast.CompareOp.GT,
    ast.CompareOp.LE: ast.CompareOp.GE,
    ast.CompareOp.GT: ast.CompareOp.LT,
    ast.CompareOp.GE: ast.CompareOp.LE,
}


def _count(
    name: str, node: ast.Expr, strict: bool, merged: Merged
) -> tuple[str, Decimal | int, bool, str] | None:
    value, typ = _value(node, merged)
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or typ is None:
        return None
    return name, value, strict, format_value(value, typ)


def _loss(
    name: str, node: ast.Expr, strict: bool, merged: Merged
) -> tuple[str, Decimal | int, bool, str] | None:
    value, typ = _value(node, merged)
    if typ != MONEY or not isinstance(value, Decimal):
        return None
    return f"loss:{name}", -value, strict, format_value(-value, MONEY)


def _mll(
    node: ast.Expr, strict: bool, merged: Merged
) -> tuple[str, Decimal | int, bool, str] | None:
    """`account.to_mll <= buffer`: on a fresh account net is the starting balance, so the
    distance to the MLL is the whole MLL distance; it acts at a loss of distance - buffer."""
    buffer, typ = _value(node, merged)
    param = merged.params.get(MLL_DISTANCE_PARAM)
    distance = param.value if param is not None else None
    if typ != MONEY or not isinstance(buffer, Decimal) or not isinstance(distance, Decimal):
        return None
    loss = abs(distance) - buffer
    return MLL, loss, strict, format_value(loss, MONEY)


def _time(
    node: ast.Expr, strict: bool, merged: Merged, reset: dt.time
) -> tuple[str, Decimal | int, bool, str] | None:
    """A time of day as seconds after the reset: 15:20 is later in the trading day than 15:08,
    22:00 (after a 17:00 reset) earlier than both."""
    value, typ = _value(node, merged)
    if typ != TIME or not isinstance(value, dt.time):
        return None
    after = (_seconds(value) - _seconds(reset)) % _DAY
    return "time", after, strict, format_value(value, TIME)


def _seconds(t: dt.time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _value(node: ast.Expr, merged: Merged) -> tuple[object, Type | None]:
    """A literal's or a param's value and type (a negated literal too), else (None, None)."""
    if isinstance(node, ast.Literal):
        return node.value, node.type
    if isinstance(node, ast.Unary) and node.op is ast.UnaryOp.NEG:
        value, typ = _value(node.operand, merged)
        return (-value, typ) if isinstance(value, int | Decimal) else (None, None)
    name = _name(node)
    if name is not None and name.startswith("params."):
        param = merged.params.get(name.removeprefix("params."))
        if param is not None:
            return param.value, param.type
    return None, None


def _param_source(part: ast.Expr, merged: Merged) -> str:
    """Where the params a conjunct reads are set: `, params.x = 6 at file:line`."""
    found = []
    for node in part.walk():
        name = _name(node)
        param = merged.params.get(name.removeprefix("params.")) if name else None
        if name is not None and name.startswith("params.") and param is not None:
            value = param.doc.value
            shown = format_value(param.value, param.type)
            found.append(f"{name} = {shown} at {value.path}:{value.span.line}")
    return f", {', '.join(found)}" if found else ""


def _name(node: ast.Expr) -> str | None:
    return node.path if isinstance(node, ast.Name) else None


def _reset(merged: Merged) -> dt.time:
    found = merged.settings.get("reset")
    return found[0] if found is not None and isinstance(found[0], dt.time) else dt.time(17, 0)
