"""The checks of a ruleset test's `expect` (actions, state, working orders) -> located problems.

Actions are matched against the enforcement records fired since the previous
`expect` of the case; a record of a rule error is not an action (the runner
reports it as an error of the rule). An expected action of a rule that errored
says so instead of "not fired".
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rmdsl.contract.events import symbol_of
from rmdsl.tooling.testevents import money
from rmdsl.tooling.teststeps import Expectation, ExpectedAction, ExpectedOrder

if TYPE_CHECKING:
    from rmdsl.engine.entities import Order
    from rmdsl.tooling.offline import Fired, OfflineRun
    from rmdsl.tooling.ruletest import TestCase

Problem = tuple[int, str]
_MISSING = object()
STATE_SPECIAL = ("lockout", "blocked")


class Checker:
    def __init__(self, case: TestCase) -> None:
        self.case = case
        self.problems: list[Problem] = []
        self._seen = 0  # run.fired[:_seen] belong to an earlier expect

    def check(self, exp: Expectation, run: OfflineRun, errored: set[str]) -> None:
        fired = run.fired[self._seen :]
        self._seen = len(run.fired)
        if exp.actions is not None:
            self.problems += self._actions(exp.actions, fired, errored)
        self.problems += self._state(exp, run)
        if exp.orders is not None:
            self.problems += self._orders(exp, run)

    # ---- actions ------------------------------------------------------------------------------
    def _actions(
        self, expected: list[ExpectedAction], fired: list[Fired], errored: set[str]
    ) -> list[Problem]:
        groups = groups_of(fired)
        used: set[int] = set()
        problems: list[Problem] = []
        for exp in expected:
            hit = next(
                (i for i, g in enumerate(groups) if i not in used and _matches(exp, g)), None
            )
            if hit is not None:
                used.add(hit)
                continue
            why = f"rule {exp.rule} errored (below)" if exp.rule in errored else "not fired"
            problems.append((exp.line, f"expected {self.describe_exp(exp)}: {why}"))
        for i, g in enumerate(groups):
            if i not in used and not g["skipped"]:
                line = next((f.line for f in fired if f.record is g["records"][0]), None) or 0
                problems.append((line, f"unexpected {self.describe_group(g)}"))
        return problems

    # ---- state --------------------------------------------------------------------------------
    def _state(self, exp: Expectation, run: OfflineRun) -> list[Problem]:
        problems = []
        for line, _col, name, expected in exp.state:
            got = state_value(run, name)
            if got is _MISSING:
                problems.append((line, f"state {name}: unknown name"))
            elif not _equal(expected, got):
                want, have = _shown(name, expected), _shown(name, got)
                problems.append((line, f"state {name}: expected {want}, got {have}"))
        return problems

    # ---- working orders -----------------------------------------------------------------------
    def _orders(self, exp: Expectation, run: OfflineRun) -> list[Problem]:
        working = list(run.engine.state.orders.values())
        left = list(working)
        problems: list[Problem] = []
        for want in exp.orders or []:
            hit = next((o for o in left if _order_matches(want, o)), None)
            if hit is None:
                shown = ", ".join(describe_order(o) for o in working) or "none"
                problems.append(
                    (want.line, f"orders: no working {_want_text(want)} (working: {shown})")
                )
            else:
                left.remove(hit)
        for order in left:
            problems.append(
                (exp.orders_line, f"orders: unexpected working {describe_order(order)}")
            )
        return problems

    # ---- text ---------------------------------------------------------------------------------
    def describe_exp(self, exp: ExpectedAction) -> str:
        at = f" at {self.case.local_time(exp.at)}" if exp.at else ""
        sym = f" on {exp.symbol}" if exp.symbol else ""
        out = f" ({exp.outcome})" if exp.outcome else ""
        return f"{exp.rule} {exp.action}{sym}{at}{out}"

    def describe_group(self, g: dict[str, Any]) -> str:
        targets = ", ".join(g["targets"]) or "-"
        return f"{g['rule']} {g['action']} on {targets} at {self.case.local_time(g['at'])} " + (
            f"({g['outcome']})"
        )


def groups_of(fired: list[Fired]) -> list[dict[str, Any]]:
    """Records of one firing (time, rule, action, reason) together; rule errors left out."""
    out: dict[tuple[object, ...], dict[str, Any]] = {}
    for f in fired:
        r = f.record
        if str(r.outcome) == "error":
            continue
        key = (r.timestamp, r.rule_name, r.action, r.reason)
        group = out.setdefault(
            key,
            {"at": r.timestamp, "rule": r.rule_name, "action": r.action, "records": []},
        )
        group["records"].append(r)
        group.setdefault("symbols", []).append(f.symbol)
    for g in out.values():
        outcomes = {str(r.outcome) for r in g["records"]}
        g["skipped"] = outcomes == {"skipped"}
        g["outcome"] = next(o for o in ("failed", "ok", "skipped") if o in outcomes)
        sent = [i for i, r in enumerate(g["records"]) if str(r.outcome) != "skipped"]
        g["targets"] = [g["records"][i].target for i in sent]
        g["target_symbols"] = [g["symbols"][i] for i in sent]
    return list(out.values())


def _matches(exp: ExpectedAction, g: dict[str, Any]) -> bool:
    if exp.rule != g["rule"] or exp.action not in (g["action"], g["action"].split("(", 1)[0]):
        return False
    if exp.at is not None and exp.at != g["at"]:
        return False
    if exp.outcome is not None:
        return exp.outcome == ("skipped" if g["skipped"] else g["outcome"])
    if g["skipped"]:
        return False
    if exp.symbol is not None:  # a close's contract or a cancelled order's symbol
        wanted = symbol_of(exp.symbol)
        return any(s == wanted for s in g["target_symbols"])
    return True


def _order_matches(want: ExpectedOrder, order: Order) -> bool:
    ev = order.event
    for name, text in want.fields:
        if name == "id":
            ok = text == str(order.id)
        elif name in ("symbol", "contract"):
            ok = text == order.contract_id or symbol_of(text) == order.symbol
        elif name == "side":
            ok = text.lower() == ev.side.word
        elif name == "type":
            ok = text.lower() == ev.type.word
        elif name == "size":
            ok = text == str(ev.size)
        else:
            value = ev.limit_price if name == "price" else ev.stop_price
            try:
                ok = value is not None and money(text) == value
            except (ValueError, InvalidOperation):
                ok = False
        if not ok:
            return False
    return True


def _want_text(want: ExpectedOrder) -> str:
    return "order " + " ".join(f"{k}={v}" for k, v in want.fields)


def describe_order(order: Order) -> str:
    ev = order.event
    prices = [f"@ {ev.limit_price}" if ev.limit_price is not None else ""]
    prices += [f"stop {ev.stop_price}" if ev.stop_price is not None else ""]
    tail = " ".join(p for p in prices if p)
    return f"#{order.id} {ev.type.word} {ev.side.word} {ev.size} {order.symbol} {tail}".rstrip()


def known_state_name(name: str) -> bool:
    from rmdsl.lang.context import EvalContext

    if name in STATE_SPECIAL:
        return True
    obj: Any = EvalContext()
    for part in name.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING or callable(obj):
            return False
    return True


def state_value(run: OfflineRun, name: str) -> Any:
    eng = run.engine
    if name == "lockout":
        return eng.lockouts.account_locked
    if name == "blocked":
        return sorted(r.symbol for r in eng.lockouts.active.values() if r.symbol)
    obj: Any = eng.ctx
    for part in name.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _shown(name: str, value: Any) -> str:
    """`-$520.00`, `2m`, `true`: as the language writes a value of `name`'s type."""
    from rmdsl.lang.format import format_value
    from rmdsl.lang.schema import NAMES
    from rmdsl.lang.types import BOOL, STRING, list_of

    typ = {"lockout": BOOL, "blocked": list_of(STRING)}.get(name)
    spec = NAMES.get(name)
    return format_value(value, typ or (spec.type if spec else STRING))


def _equal(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(got, int | Decimal):
        try:
            return money(expected) == Decimal(got)
        except (ValueError, InvalidOperation):
            return False
    if isinstance(expected, list):
        return [str(x) for x in expected] == [str(x) for x in got]
    return str(expected) == str(got)
