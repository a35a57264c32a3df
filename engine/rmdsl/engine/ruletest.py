"""Ruleset test files (YAML) -> TestCases of located events and expectations (docs/engine.md).

Shorthand events (`fill`, `position`, `order`, `quote`, `account`, `clock`)
and the recording's own shape (`target` + `data`) are both accepted. A fill
is resolved against the engine's position when fed: it yields the position
event too and, when it reduces a position and gives no `pnl`, the P&L from ticks.
Steps (`reload`, `restart`, `disconnect`, `reconnect`, `fail`, `expect` at a
time) sit in the same list: rmdsl.engine.teststeps. Anything the runner could
not honour (an unknown kind, a misspelt key) is a located TestFileError.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rmdsl.broker.interface import Snapshot
from rmdsl.engine.events import (
    AccountEvent,
    ClockEvent,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PayloadError,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
    event_from_gateway,
    symbol_of,
)
from rmdsl.engine.state import AccountState
from rmdsl.engine.teststeps import Expectation, ExpectedAction, expectation, snapshot_items
from rmdsl.errors import RmdslError
from rmdsl.lang.literals import parse_amount
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, load_yaml_file
from rmdsl.recording import TARGETS

DEFAULT_DATE = dt.date(2026, 3, 2)  # a Monday
ZERO = Decimal(0)


class TestFileError(RmdslError):
    """A test file that cannot be understood: `file:line:col: error: message` (exit 2)."""

    def __init__(self, path: str, line: int, message: str, col: int | None = None) -> None:
        where = f"{path}:{line}:{col}" if col is not None else f"{path}:{line}"
        super().__init__(f"{where}: error: {message}")


@dataclass(frozen=True, slots=True)
class FillSpec:
    """A shorthand fill: resolved against the engine's position when it is fed (`resolve`)."""

    id: int
    contract: str
    ts: dt.datetime
    side: Side
    size: int
    price: Decimal
    pnl: Decimal | None
    fees: Decimal = ZERO
    voided: bool = False
    moves_position: bool = True

    def resolve(self, state: AccountState) -> list[Event]:
        """The fill (P&L from ticks when it reduces and gives none) and the position after it."""
        pos = state.positions.get(self.contract)
        held = 0 if pos is None else (pos.size if pos.long else -pos.size)
        avg = ZERO if pos is None else pos.avg_price
        signed = self.size if self.side is Side.BUY else -self.size
        closing = held != 0 and (held > 0) != (signed > 0)
        pnl = self.pnl
        if pnl is None and closing:
            pnl = _pnl(state, self.contract, held, avg, self.price, min(self.size, abs(held)))
        trade = TradeEvent(
            self.id,
            1,
            self.contract,
            self.ts,
            self.price,
            pnl,
            self.fees,
            self.side,
            self.size,
            self.voided,
        )
        if not self.moves_position:
            return [trade]
        new = held + signed
        if new == 0:
            new_avg = ZERO
        elif not closing:
            new_avg = (avg * abs(held) + self.price * self.size) / abs(new)
        else:
            new_avg = avg if (new > 0) == (held > 0) else self.price
        kind = PositionType.LONG if new > 0 else PositionType.SHORT if new < 0 else PositionType(0)
        pid = pos.id if pos is not None else 1
        return [trade, PositionEvent(pid, 1, self.contract, self.ts, kind, abs(new), new_avg)]


@dataclass(frozen=True, slots=True)
class Located:
    """What one line of the file stands for: events, or a fill resolved when fed."""

    line: int
    items: tuple[Event | FillSpec, ...]

    def events(self, state: AccountState) -> list[Event]:
        out: list[Event] = []
        for item in self.items:
            out += item.resolve(state) if isinstance(item, FillSpec) else [item]
        return out

    @property
    def first_ts(self) -> dt.datetime:
        return self.items[0].ts


@dataclass(slots=True)
class TestCase:
    name: str
    line: int
    date: dt.date
    start: dt.datetime
    events: list[Any] = field(default_factory=list)  # Located events and teststeps.Step
    initial: list[Located] = field(default_factory=list)  # the state at start (a snapshot)
    expect: Expectation = field(default_factory=lambda: Expectation(0))
    tz: dt.tzinfo = dt.UTC  # the ruleset's timezone: `at` times are read and shown in it

    @property
    def actions(self) -> list[ExpectedAction] | None:
        return self.expect.actions


def snapshot_of(initial: list[Located], state: AccountState, start: dt.datetime) -> Snapshot:
    """The `initial:` section as the broker snapshot the engine reconciles with at start."""
    events = [ev for loc in initial for ev in loc.events(state)]
    return Snapshot(
        AccountEvent(1, "test", _balance(state), True, start),
        tuple(e for e in events if isinstance(e, PositionEvent)),
        tuple(e for e in events if isinstance(e, OrderEvent)),
        tuple(e for e in events if isinstance(e, TradeEvent)),
    )


def _balance(state: AccountState) -> Decimal:
    """The broker's balance: what the engine last saw, else $50,000 (a fresh test account)."""
    return state.ctx.account.balance if state.account_model.balance_known else Decimal(50_000)


def initial_quotes(initial: list[Located]) -> list[Event]:
    return [i for loc in initial for i in loc.items if isinstance(i, QuoteEvent)]


@dataclass(frozen=True, slots=True)
class TestFile:
    path: str
    ruleset_path: Path
    cases: tuple[TestCase, ...]


def plain(node: YNode | None) -> Any:
    if node is None:
        return None
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(n) for n in node.items]
    return {k.text: plain(v) for k, v in node.entries}


class _Parser:
    def __init__(self, path: str, tz: ZoneInfo) -> None:
        self.path, self.tz = path, tz
        self.ids = 0

    def fail(self, node: YNode | int, message: str) -> TestFileError:
        if isinstance(node, int):
            return TestFileError(self.path, node, message)
        return TestFileError(self.path, node.span.line, message, node.span.col)

    def time(self, node: YNode, value: Any, day: dt.date) -> dt.datetime:
        text = str(value)
        try:
            if "T" in text or " " in text.strip():
                ts = dt.datetime.fromisoformat(text)
                return (ts if ts.tzinfo else ts.replace(tzinfo=self.tz)).astimezone(dt.UTC)
            wall = dt.time.fromisoformat(text)
        except ValueError:
            raise self.fail(node, f"bad time {text!r} (HH:MM[:SS[.fff]] or ISO-8601)") from None
        return dt.datetime.combine(day, wall, self.tz).astimezone(dt.UTC)

    def next_id(self) -> int:
        self.ids += 1
        return self.ids

    # ---- events ------------------------------------------------------------------------------
    def item(self, node: YNode, day: dt.date) -> Located | Any:
        """One entry of `events:`: an event (Located) or a step (teststeps.Step)."""
        from rmdsl.engine.teststeps import STEPS, parse_step

        if not isinstance(node, YMap) or node.get("at") is None:
            raise self.fail(node, "an event is a mapping with `at` and one kind of event")
        has_target = node.get("target") is not None
        kinds = [k for k in node.entries if k[0].text not in ("at", "data" if has_target else "")]
        if len(kinds) != 1:
            where = kinds[1][0] if len(kinds) > 1 else node
            raise self.fail(where, f"give exactly one of {', '.join(EVENT_KINDS + STEPS)}")
        key, _ = kinds[0]
        if key.text in STEPS:
            return parse_step(self, node, key.text, day)
        if key.text not in EVENT_KINDS:
            raise self.fail(key, f"unknown event kind `{key.text}`: {_suggest(key.text)}")
        return Located(node.span.line, tuple(self.event(node, day)))

    def event(self, node: YNode, day: dt.date) -> list[Event | FillSpec]:
        if not isinstance(node, YMap) or node.get("at") is None:
            raise self.fail(node, "an event is a mapping with `at` and one kind of event")
        at_node = node.get("at")
        assert at_node is not None
        ts = self.time(at_node, plain(at_node), day)
        kinds = [k for k in node.keys() if k not in ("at", "data")]
        body = plain(node)
        try:
            if "target" in kinds:
                target = body.get("target")
                if target not in TARGETS:
                    raise PayloadError(f"target must be one of {', '.join(TARGETS)}")
                return [event_from_gateway(str(target), body.get("data"), fallback_ts=ts)]
            if len(kinds) != 1:
                raise PayloadError(
                    "give exactly one of fill, position, order, quote, account, clock"
                )
            return self._shorthand(kinds[0], body[kinds[0]], ts)
        except (PayloadError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise self.fail(node, f"bad event: {exc}") from None

    def _shorthand(self, kind: str, spec: Any, ts: dt.datetime) -> list[Event | FillSpec]:
        if kind == "clock":
            return [ClockEvent(ts)]
        if not isinstance(spec, dict):
            raise PayloadError(f"`{kind}` must be a mapping")
        if kind == "fill":
            return self._fill(spec, ts)
        if kind == "position":
            return [self._position(spec, ts)]
        if kind == "order":
            return [self._order(spec, ts)]
        if kind == "quote":
            return [QuoteEvent(_contract(spec), ts, money(spec["price"]))]
        if kind == "account":
            return [
                AccountEvent(  # a field the step leaves out keeps its value, as on the wire
                    int(spec.get("id", 1)),
                    None if spec.get("name") is None else str(spec["name"]),
                    None if spec.get("balance") is None else money(spec["balance"]),
                    None if spec.get("can_trade") is None else bool(spec["can_trade"]),
                    ts,
                )
            ]
        raise PayloadError(f"unknown event kind {kind!r}")

    def _fill(self, spec: dict[str, Any], ts: dt.datetime) -> list[Event | FillSpec]:
        pnl = money(spec["pnl"]) if spec.get("pnl") is not None else None
        return [
            FillSpec(
                int(spec.get("id", self.next_id())),
                _contract(spec),
                ts,
                _side(spec.get("side", "buy")),
                int(spec.get("size", 1)),
                money(spec["price"]),
                pnl,
                money(spec.get("fees", 0)),
                bool(spec.get("voided", False)),
            )
        ]

    def _position(self, spec: dict[str, Any], ts: dt.datetime) -> PositionEvent:
        contract, size = _contract(spec), int(spec.get("size", 1))
        long = str(spec.get("side", "long")) == "long"
        price = money(spec.get("price", 0))
        kind = (PositionType.LONG if long else PositionType.SHORT) if size else PositionType(0)
        return PositionEvent(int(spec.get("id", 1)), 1, contract, ts, kind, size, price)

    def _order(self, spec: dict[str, Any], ts: dt.datetime) -> OrderEvent:
        return OrderEvent(
            int(spec["id"]),
            1,
            _contract(spec),
            ts,
            OrderStatus[str(spec.get("status", "open")).upper()],
            OrderType[str(spec.get("type", "limit")).upper()],
            _side(spec.get("side", "buy")),
            int(spec.get("size", 1)),
            money(spec["price"]) if spec.get("price") is not None else None,
            money(spec["stop"]) if spec.get("stop") is not None else None,
        )


EVENT_KINDS = ("fill", "position", "order", "quote", "account", "clock", "target")


def _suggest(word: str) -> str:
    from rmdsl.engine.teststeps import STEPS
    from rmdsl.lang.literals import did_you_mean

    return did_you_mean(word, EVENT_KINDS + STEPS) or ""


def money(value: Any) -> Decimal:
    """`-520`, `-520.5`, `"-$520"`, `"$1,250.50"` -> Decimal (docs/language.md, "Money")."""
    return parse_amount(value)


def _contract(spec: dict[str, Any]) -> str:
    value = spec.get("contract")
    if not isinstance(value, str) or not value:
        raise PayloadError("missing `contract` (a symbol like MNQ or a contract id)")
    return value


def _side(value: Any) -> Side:
    text = str(value).lower()
    if text not in ("buy", "sell"):
        raise PayloadError(f"side must be buy or sell, got {value!r}")
    return Side.BUY if text == "buy" else Side.SELL


def _pnl(
    state: AccountState, contract: str, held: int, avg: Decimal, price: Decimal, qty: int
) -> Decimal:
    tick, value = state.contracts.get(symbol_of(contract), (ZERO, ZERO))
    if tick == 0:
        return ZERO
    move = (price - avg) if held > 0 else (avg - price)
    return (move / tick * value * qty).quantize(Decimal("0.01"))


def load_test_file(path: str, tz_of: Any) -> TestFile:
    """Parse a test file. `tz_of(ruleset_path)` gives the ruleset's timezone for `at` times."""
    root, _source = load_yaml_file(path)
    base = Path(path).parent
    rs_node = root.get("ruleset")
    if not isinstance(rs_node, YScalar) or not isinstance(rs_node.value, str):
        raise TestFileError(path, root.span.line, "missing `ruleset:` (a path relative to here)")
    ruleset_path = base / rs_node.value
    parser = _Parser(path, tz_of(ruleset_path))
    tests = root.get("tests")
    if not isinstance(tests, YSeq) or not tests.items:
        raise TestFileError(path, root.span.line, "missing `tests:` (a list of test cases)")
    cases = tuple(_case(parser, node) for node in tests.items)
    return TestFile(path, ruleset_path, cases)


def _case(p: _Parser, node: YNode) -> TestCase:
    if not isinstance(node, YMap):
        raise p.fail(node, "a test case is a mapping with name, events and expect")
    for key, _ in node.entries:
        if key.text not in _CASE_KEYS:
            raise p.fail(key, f"unknown key `{key.text}` in a test case: {_did(key.text)}")
    name = str(plain(node.get("name")) or f"test at line {node.span.line}")
    date_value = plain(node.get("date"))
    try:
        day = dt.date.fromisoformat(str(date_value)) if date_value else DEFAULT_DATE
    except ValueError:
        raise p.fail(node.get("date") or node, f"bad date {date_value!r}") from None
    initial = node.get("initial")
    events_node = node.get("events")
    if not isinstance(events_node, YSeq):
        raise p.fail(node, "missing `events:` (a list)")
    events = [p.item(item, day) for item in events_node.items]
    start_node = node.get("start")
    first = _ts(events[0]) if events else dt.datetime.combine(day, dt.time(8), p.tz)
    start = p.time(start_node, plain(start_node), day) if start_node is not None else first
    case = TestCase(name, node.span.line, day, start, events, tz=p.tz)
    if initial is not None:
        case.initial = snapshot_items(p, initial, start, "initial")
    expect = node.get("expect")
    if expect is not None:
        case.expect = expectation(p, expect, day)
    return case


_CASE_KEYS = ("name", "date", "start", "initial", "events", "expect")


def _did(word: str) -> str:
    from rmdsl.lang.literals import did_you_mean

    return did_you_mean(word, _CASE_KEYS) or ""


def _ts(item: Any) -> dt.datetime:
    return item.first_ts if isinstance(item, Located) else item.ts
