"""The events of an `rmdsl test` file: shorthand and recorded events, located by line.

A shorthand fill is a FillSpec, resolved against the engine's position when
it is fed (it yields the position event too and, when it reduces a position
and gives no `pnl`, the P&L from ticks). The case reader (rmdsl.tooling.ruletest)
and the step reader (rmdsl.tooling.teststeps) both build on EventParser
(docs/engine.md, "`rmdsl test`").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from rmdsl.broker.decode.fields import PayloadError
from rmdsl.broker.decode.gateway import event_from_gateway
from rmdsl.contract import events as ev
from rmdsl.engine.state import AccountState
from rmdsl.errors import RmdslError
from rmdsl.lang.literals import did_you_mean, parse_amount
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq
from rmdsl.recording import TARGETS

ZERO = Decimal(0)
EVENT_KINDS = ("fill", "position", "order", "quote", "account", "clock", "target")


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
    side: ev.Side
    size: int
    price: Decimal
    pnl: Decimal | None
    fees: Decimal = ZERO
    voided: bool = False
    moves_position: bool = True

    def resolve(self, state: AccountState) -> list[ev.Event]:
        """The fill (P&L from ticks when it reduces and gives none) and the position after it."""
        pos = state.positions.get(self.contract)
        held = 0 if pos is None else (pos.size if pos.long else -pos.size)
        avg = ZERO if pos is None else pos.avg_price
        signed = self.size if self.side is ev.Side.BUY else -self.size
        closing = held != 0 and (held > 0) != (signed > 0)
        pnl = self.pnl
        if pnl is None and closing:
            pnl = _pnl(state, self.contract, held, avg, self.price, min(self.size, abs(held)))
        trade = ev.TradeEvent(
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
        kind = (
            ev.PositionType.LONG
            if new > 0
            else ev.PositionType.SHORT
            if new < 0
            else ev.PositionType(0)
        )
        pid = pos.id if pos is not None else 1
        return [trade, ev.PositionEvent(pid, 1, self.contract, self.ts, kind, abs(new), new_avg)]


@dataclass(frozen=True, slots=True)
class Located:
    """What one line of the file stands for: events, or a fill resolved when fed."""

    line: int
    items: tuple[ev.Event | FillSpec, ...]

    def events(self, state: AccountState) -> list[ev.Event]:
        out: list[ev.Event] = []
        for item in self.items:
            out += item.resolve(state) if isinstance(item, FillSpec) else [item]
        return out

    @property
    def first_ts(self) -> dt.datetime:
        return self.items[0].ts


def plain(node: YNode | None) -> Any:
    if node is None:
        return None
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(n) for n in node.items]
    return {k.text: plain(v) for k, v in node.entries}


class EventParser:
    """Reads the events of a test file; shared by the case reader and the step reader."""

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

    def check_keys(self, node: YMap, allowed: tuple[str, ...], unknown: str) -> None:
        """Every key of `node` is one of `allowed`, else `unknown` (a template for the key,
        e.g. "unknown key `{}` in `expect`") with the closest allowed ones, at the key."""
        for key, _ in node.entries:
            if key.text not in allowed:
                hint = did_you_mean(key.text, allowed)
                raise self.fail(key, f"{unknown.format(key.text)}: {hint}")

    def next_id(self) -> int:
        self.ids += 1
        return self.ids

    def event(self, node: YNode, day: dt.date) -> list[ev.Event | FillSpec]:
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
            return self.shorthand(kinds[0], body[kinds[0]], ts)
        except (PayloadError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise self.fail(node, f"bad event: {exc}") from None

    def shorthand(self, kind: str, spec: Any, ts: dt.datetime) -> list[ev.Event | FillSpec]:
        if kind == "clock":
            return [ev.ClockEvent(ts)]
        if not isinstance(spec, dict):
            raise PayloadError(f"`{kind}` must be a mapping")
        if kind == "fill":
            return self._fill(spec, ts)
        if kind == "position":
            return [self._position(spec, ts)]
        if kind == "order":
            return [self._order(spec, ts)]
        if kind == "quote":
            return [ev.QuoteEvent(_contract(spec), ts, money(spec["price"]))]
        if kind == "account":
            return [
                ev.AccountEvent(  # a field the step leaves out keeps its value, as on the wire
                    int(spec.get("id", 1)),
                    None if spec.get("name") is None else str(spec["name"]),
                    None if spec.get("balance") is None else money(spec["balance"]),
                    None if spec.get("can_trade") is None else bool(spec["can_trade"]),
                    ts,
                )
            ]
        raise PayloadError(f"unknown event kind {kind!r}")

    def _fill(self, spec: dict[str, Any], ts: dt.datetime) -> list[ev.Event | FillSpec]:
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

    def _position(self, spec: dict[str, Any], ts: dt.datetime) -> ev.PositionEvent:
        contract, size = _contract(spec), int(spec.get("size", 1))
        long = str(spec.get("side", "long")) == "long"
        price = money(spec.get("price", 0))
        kind = (
            (ev.PositionType.LONG if long else ev.PositionType.SHORT)
            if size
            else ev.PositionType(0)
        )
        return ev.PositionEvent(int(spec.get("id", 1)), 1, contract, ts, kind, size, price)

    def _order(self, spec: dict[str, Any], ts: dt.datetime) -> ev.OrderEvent:
        return ev.OrderEvent(
            int(spec["id"]),
            1,
            _contract(spec),
            ts,
            ev.OrderStatus[str(spec.get("status", "open")).upper()],
            ev.OrderType[str(spec.get("type", "limit")).upper()],
            _side(spec.get("side", "buy")),
            int(spec.get("size", 1)),
            money(spec["price"]) if spec.get("price") is not None else None,
            money(spec["stop"]) if spec.get("stop") is not None else None,
        )


def money(value: Any) -> Decimal:
    """`-520`, `-520.5`, `"-$520"`, `"$1,250.50"` -> Decimal (docs/language.md, "Money")."""
    return parse_amount(value)


def _contract(spec: dict[str, Any]) -> str:
    value = spec.get("contract")
    if not isinstance(value, str) or not value:
        raise PayloadError("missing `contract` (a symbol like MNQ or a contract id)")
    return value


def _side(value: Any) -> ev.Side:
    text = str(value).lower()
    if text not in ("buy", "sell"):
        raise PayloadError(f"side must be buy or sell, got {value!r}")
    return ev.Side.BUY if text == "buy" else ev.Side.SELL


def _pnl(
    state: AccountState, contract: str, held: int, avg: Decimal, price: Decimal, qty: int
) -> Decimal:
    tick, value = state.contracts.get(ev.symbol_of(contract), (ZERO, ZERO))
    if tick == 0:
        return ZERO
    move = (price - avg) if held > 0 else (avg - price)
    return (move / tick * value * qty).quantize(Decimal("0.01"))
