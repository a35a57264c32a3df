"""The steps of a ruleset test (`reload`, `restart`, `disconnect`, `reconnect`, `fail`, and
`expect` at a time) and the expectations (actions, state, working orders): parsed here, run by
rmdsl.tooling.testrun. The file format is in docs/engine.md, "`rmdsl test`".

A step is an entry of `events:` with `at` and one step key; its `at` first advances the
engine's clock to that instant, as a `clock` event would.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import InvalidOperation
from pathlib import Path
from typing import Any

from rmdsl.broker.decode.fields import PayloadError
from rmdsl.lang.literals import did_you_mean
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq
from rmdsl.tooling.testevents import EventParser, FillSpec, Located, plain

STEPS = ("reload", "restart", "disconnect", "reconnect", "fail", "expect")
# the broker calls enforcement makes (rmdsl.contract.broker.Broker)
BROKER_CALLS = ("close_position", "partial_close", "cancel_order", "place_order", "modify_order")


@dataclass(frozen=True, slots=True)
class ExpectedAction:
    line: int
    rule: str
    action: str
    at: dt.datetime | None = None
    symbol: str | None = None
    outcome: str | None = None
    rule_col: int = 1  # where the rule's name is written (a misspelt name is located there)
    rule_line: int = 0


@dataclass(frozen=True, slots=True)
class ExpectedOrder:
    """A working order that must exist: the fields given must all match one order."""

    line: int
    fields: tuple[tuple[str, str], ...]  # (symbol|contract|side|type|size|price|stop, text)


@dataclass(slots=True)
class Expectation:
    """What must hold at an instant (a step) or at the end (the case's `expect`)."""

    line: int
    actions: list[ExpectedAction] | None = None  # None: not checked
    state: list[tuple[int, int, str, Any]] = field(default_factory=list)  # line, col, name, value
    orders: list[ExpectedOrder] | None = None  # None: not checked
    orders_line: int = 0  # where `orders:` is written (an unexpected order is reported there)
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # line, col, rule: erred


@dataclass(frozen=True, slots=True)
class Step:
    """One step: `kind` is one of STEPS; the other fields are those of its kind."""

    line: int
    ts: dt.datetime
    kind: str
    path: Path | None = None  # reload: the ruleset to swap to
    snapshot: tuple[Located, ...] | None = None  # reconnect / restart: the broker's view
    call: str = ""  # fail: the broker call that fails
    times: int = 1
    error: str = ""
    expect: Expectation | None = None
    col: int = 1  # where the step's value is written (a bad reload file is located there)


def parse_step(p: EventParser, node: YMap, kind: str, day: dt.date) -> Step:
    """A step entry (`at` + one step key) -> Step; a malformed one is a TestFileError."""
    at_node = node.get("at")
    assert at_node is not None
    ts = p.time(at_node, plain(at_node), day)
    value = node.get(kind)
    assert value is not None
    col = value.span.col
    if kind == "reload":
        if not isinstance(value, YScalar) or not isinstance(value.value, str) or not value.value:
            raise p.fail(value, "`reload` names a ruleset file (relative to the test file)")
        path = Path(p.path).parent / value.value
        return Step(node.span.line, ts, kind, path=path, col=col)
    if kind in ("restart", "reconnect"):
        snapshot = None
        if isinstance(value, YMap):
            snapshot = tuple(snapshot_items(p, value, ts, kind))
        elif not _flag(value):
            raise p.fail(value, f"`{kind}` is `true` or a snapshot: positions, orders, trades")
        return Step(node.span.line, ts, kind, snapshot=snapshot, col=col)
    if kind == "disconnect":
        if not _flag(value):
            raise p.fail(value, "`disconnect` takes no value: write `disconnect: true`")
        return Step(node.span.line, ts, kind, col=col)
    if kind == "fail":
        return _fail_step(p, node.span.line, ts, value)
    return Step(node.span.line, ts, kind, expect=expectation(p, value, day), col=col)


def _flag(value: YNode) -> bool:
    if isinstance(value, YScalar):
        return value.value is True or value.value is None
    return isinstance(value, YMap) and not value.entries


def _fail_step(p: EventParser, line: int, ts: dt.datetime, value: YNode) -> Step:
    if not isinstance(value, YMap):
        raise p.fail(value, '`fail` is a mapping: {call: close_position, times: 2, error: "..."}')
    p.check_keys(value, ("call", "times", "error"), "unknown key `{}` in `fail`")
    call_node = value.get("call")
    call = plain(call_node)
    if call_node is None or call not in BROKER_CALLS:
        hint = did_you_mean(str(call), BROKER_CALLS)
        raise p.fail(call_node or value, f"`fail.call` must name a broker call: {hint}")
    times = plain(value.get("times"))
    times = 1 if times is None else times
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise p.fail(value.get("times") or value, "`fail.times` is a whole number >= 1")
    error = str(plain(value.get("error")) or "rejected by the test's broker")
    return Step(line, ts, "fail", call=str(call), times=times, error=error, col=value.span.col)


_EXPECT_KEYS = ("actions", "state", "orders", "errors")


def expectation(p: EventParser, node: YNode, day: dt.date) -> Expectation:
    """`expect:` with actions, state and/or working orders."""
    if not isinstance(node, YMap):
        raise p.fail(node, "`expect` is a mapping with actions, state and/or orders")
    p.check_keys(node, _EXPECT_KEYS, "unknown key `{}` in `expect`")
    out = Expectation(node.span.line)
    actions = node.get("actions")
    if actions is not None:
        if not isinstance(actions, YSeq):
            raise p.fail(actions, "`expect.actions` is a list")
        out.actions = [_expected_action(p, item, day) for item in actions.items]
    state = node.get("state")
    if isinstance(state, YMap):
        out.state = [(k.span.line, k.span.col, k.text, plain(v)) for k, v in state.entries]
    elif state is not None:
        raise p.fail(state, "`expect.state` is a mapping of name: value")
    orders = node.get("orders")
    if orders is not None:
        if not isinstance(orders, YSeq):
            raise p.fail(orders, "`expect.orders` is a list of working orders (`[]`: none)")
        out.orders = [_expected_order(p, item) for item in orders.items]
        out.orders_line = orders.span.line
    errors = node.get("errors")
    if errors is not None:
        if not isinstance(errors, YSeq):
            raise p.fail(errors, "`expect.errors` is a list of rule names")
        out.errors = [(e.span.line, e.span.col, str(plain(e))) for e in errors.items]
    return out


ORDER_FIELDS = ("id", "symbol", "contract", "side", "type", "size", "price", "stop")


def _expected_order(p: EventParser, item: YNode) -> ExpectedOrder:
    if not isinstance(item, YMap):
        raise p.fail(item, "an expected order is a mapping, e.g. {symbol: MNQ, type: stop}")
    p.check_keys(item, ORDER_FIELDS, "unknown order field `{}`")
    return ExpectedOrder(item.span.line, tuple((k.text, str(plain(v))) for k, v in item.entries))


def _expected_action(p: EventParser, item: YNode, day: dt.date) -> ExpectedAction:
    spec = plain(item)
    if not isinstance(spec, dict) or "rule" not in spec or "action" not in spec:
        raise p.fail(item, "an expected action needs `rule` and `action` (and optionally at)")
    at = None
    if spec.get("at") is not None:
        at_node = item.get("at") if isinstance(item, YMap) else item
        at = p.time(at_node or item, spec["at"], day)
    symbol = spec.get("symbol")
    rule_node = item.get("rule") if isinstance(item, YMap) else None
    where = rule_node.span if rule_node is not None else item.span
    return ExpectedAction(
        item.span.line,
        str(spec["rule"]),
        str(spec["action"]),
        at,
        str(symbol) if symbol is not None else None,
        str(spec["outcome"]) if spec.get("outcome") is not None else None,
        where.col,
        where.line,
    )


_SNAPSHOT_KINDS = {"positions": "position", "orders": "order", "trades": "fill", "quotes": "quote"}


def snapshot_items(p: EventParser, node: YNode, start: dt.datetime, what: str) -> list[Located]:
    """`initial:` (or a `reconnect:` / `restart:` snapshot): positions, orders, trades, quotes.

    A trade may give its own `at` (a fill the broker made while rmdsl was away)."""
    if not isinstance(node, YMap):
        raise p.fail(node, f"`{what}` is a mapping of positions, orders, trades, quotes")
    out: list[Located] = []
    for key, value in node.entries:
        if key.text not in _SNAPSHOT_KINDS or not isinstance(value, YSeq):
            raise p.fail(
                key,
                f"`{what}.{key.text}`: expected one of positions, orders, trades, quotes, "
                "each a list",
            )
        for item in value.items:
            out.append(_snapshot_item(p, key.text, item, start, what))
    return out


def _snapshot_item(
    p: EventParser, kind: str, item: YNode, start: dt.datetime, what: str
) -> Located:
    spec = plain(item)
    ts = start
    if kind == "trades" and isinstance(spec, dict):
        if spec.get("at") is not None and isinstance(item, YMap):
            ts = p.time(item.get("at") or item, spec.pop("at"), start.astimezone(p.tz).date())
        spec = {"contract": "MNQ", "price": 0, "pnl": 0, **spec}
    try:
        evs = p.shorthand(_SNAPSHOT_KINDS[kind], spec, ts)
    except (PayloadError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise p.fail(item, f"bad {what} {kind}: {exc}") from None
    if kind == "trades":  # earlier closed trades: the fill only
        evs = [replace(e, moves_position=False) for e in evs if isinstance(e, FillSpec)]
    return Located(item.span.line, tuple(evs))
