"""Broker-neutral events the engine consumes, and the ProjectX payload -> event mapping.

Every event carries `ts` (the broker's time, tz-aware UTC) and `received_ns`
(time.monotonic_ns() when our process first saw it: enforcement latency is
measured from there). Gateway payloads are mapped here once, for the
adapter, `replay`, `test` and the simulated gateway alike (docs/events.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rmdsl.engine.payload_fields import (
    ACTION_CREATE,
    ACTION_DELETE,
    ACTION_UPDATE,
    PayloadError,
    envelope,
    parse_ts,
    unwrap,
)
from rmdsl.engine.payload_fields import dec as _dec
from rmdsl.engine.payload_fields import enum_field as _enum
from rmdsl.engine.payload_fields import int_field as _int
from rmdsl.engine.payload_fields import opt_bool as _opt_bool
from rmdsl.engine.payload_fields import opt_dec as _opt_dec
from rmdsl.engine.payload_fields import str_field as _str

__all__ = [
    "ACTION_CREATE",
    "ACTION_DELETE",
    "ACTION_UPDATE",
    "PayloadError",
    "envelope",
    "parse_ts",
    "unwrap",
]


class Side(enum.IntEnum):
    """OrderSide of the gateway: 0 buy (bid), 1 sell (ask)."""

    BUY = 0
    SELL = 1

    @property
    def word(self) -> str:
        return "buy" if self is Side.BUY else "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.IntEnum):
    """OrderType of the gateway; 0 is the gateway's own Unknown (docs/broker.md, odd payloads)."""

    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7

    @property
    def word(self) -> str:
        return self.name.lower()

    @property
    def is_stop(self) -> bool:
        return self in (OrderType.STOP_LIMIT, OrderType.STOP, OrderType.TRAILING_STOP)


class OrderStatus(enum.IntEnum):
    """OrderStatus 0..8 of the gateway; UNKNOWN stands for any code past 8 (kept, not dropped)."""

    UNKNOWN = -1
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8

    @property
    def is_working(self) -> bool:
        # an order in a status we cannot read may still rest at the gateway: keep it (a flatten
        # cancels it); it never counts as protection (AccountState._refresh_protection)
        return self in (
            OrderStatus.OPEN,
            OrderStatus.PENDING,
            OrderStatus.SUSPENDED,
            OrderStatus.UNKNOWN,
        )


class PositionType(enum.IntEnum):
    """0 (and any code past 2) is Undefined: NOT closed, only size 0 closes (docs/broker.md)."""

    UNDEFINED = 0
    LONG = 1
    SHORT = 2


def _now_ns() -> int:
    return time.monotonic_ns()


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A fill (GatewayUserTrade). `pnl` is the gateway's profitAndLoss: GROSS, None on opening
    fills; `fees` are this fill's, opening fills included. rmdsl counts `net_pnl`
    (docs/language.md, "Net P&L")."""

    id: int
    account_id: int
    contract_id: str
    ts: dt.datetime
    price: Decimal
    pnl: Decimal | None  # gross
    fees: Decimal
    side: Side
    size: int
    voided: bool = False
    order_id: int = 0
    received_ns: int = field(default_factory=_now_ns, compare=False)

    @property
    def symbol(self) -> str:
        return symbol_of(self.contract_id)

    @property
    def is_close(self) -> bool:
        return self.pnl is not None

    @property
    def net_pnl(self) -> Decimal:
        """Gross minus this fill's fees: an opening fill's is -fees."""
        return (self.pnl if self.pnl is not None else Decimal(0)) - self.fees


@dataclass(frozen=True, slots=True)
class PositionEvent:
    """GatewayUserPosition: size 0 means closed."""

    id: int
    account_id: int
    contract_id: str
    ts: dt.datetime
    type: PositionType
    size: int
    avg_price: Decimal
    received_ns: int = field(default_factory=_now_ns, compare=False)

    @property
    def symbol(self) -> str:
        return symbol_of(self.contract_id)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """GatewayUserOrder."""

    id: int
    account_id: int
    contract_id: str
    ts: dt.datetime
    status: OrderStatus
    type: OrderType
    side: Side
    size: int
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    fill_volume: int = 0
    filled_price: Decimal | None = None
    custom_tag: str | None = None
    received_ns: int = field(default_factory=_now_ns, compare=False)
    removed: bool = False  # the gateway deleted the order (envelope action 2): it is gone

    @property
    def symbol(self) -> str:
        return symbol_of(self.contract_id)

    @property
    def working(self) -> bool:
        """Still resting at the gateway as far as this update tells."""
        return self.status.is_working and not self.removed


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """GatewayUserAccount. None: the update did not carry the field and no earlier one did:
    the account's last known value stands (never a made-up balance 0 or canTrade true)."""

    id: int
    name: str | None
    balance: Decimal | None
    can_trade: bool | None
    ts: dt.datetime
    received_ns: int = field(default_factory=_now_ns, compare=False)


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    """GatewayQuote, reduced to a price: last, or the bid/ask midpoint when last is 0."""

    contract_id: str
    ts: dt.datetime
    price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    received_ns: int = field(default_factory=_now_ns, compare=False)

    @property
    def symbol(self) -> str:
        return symbol_of(self.contract_id)


@dataclass(frozen=True, slots=True)
class ClockEvent:
    """Time passes: timers, sessions and resets are checked against ts."""

    ts: dt.datetime
    received_ns: int = field(default_factory=_now_ns, compare=False)


class ConnectionState(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONCILED = "reconciled"


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    state: ConnectionState
    ts: dt.datetime
    received_ns: int = field(default_factory=_now_ns, compare=False)


Event = (
    TradeEvent
    | PositionEvent
    | OrderEvent
    | AccountEvent
    | QuoteEvent
    | ClockEvent
    | ConnectionEvent
)

# SignalR targets of the gateway's hubs that carry account state
USER_TARGETS = ("GatewayUserTrade", "GatewayUserPosition", "GatewayUserOrder", "GatewayUserAccount")
MARKET_TARGETS = ("GatewayQuote",)


# The gateway's contract ids name two roots differently from the exchange symbols
# traders write in rules: E-mini S&P is `CON.F.US.EP.*`, E-mini Nasdaq `CON.F.US.ENQ.*`.
CONTRACT_ROOT_ALIASES = {"EP": "ES", "ENQ": "NQ"}


def symbol_of(contract_id: str) -> str:
    """`CON.F.US.MNQ.Z25` -> `MNQ`, `CON.F.US.EP.Z25` -> `ES`; else upper-cased as is."""
    parts = contract_id.split(".")
    if len(parts) >= 5 and parts[0] == "CON":
        root = parts[3].upper()
        return CONTRACT_ROOT_ALIASES.get(root, root)
    return contract_id.upper()


def event_from_gateway(
    target: str,
    payload: Any,
    fallback_ts: dt.datetime | None = None,
    received_ns: int | None = None,
) -> Event:
    """Map one realtime message (SignalR target + its payload) to an engine event."""
    rn = _now_ns() if received_ns is None else received_ns
    if target == "GatewayQuote":
        return _quote(payload, fallback_ts, rn)
    action, data = envelope(payload)
    deleted = action == ACTION_DELETE
    if target == "GatewayUserTrade":
        return TradeEvent(
            id=_int(data, "id"),
            account_id=_int(data, "accountId", 0),
            contract_id=_str(data, "contractId"),
            ts=parse_ts(data.get("creationTimestamp"), fallback_ts),
            price=_dec(data.get("price"), "price"),
            pnl=_opt_dec(data.get("profitAndLoss"), "profitAndLoss"),
            fees=_opt_dec(data.get("fees"), "fees") or Decimal(0),
            side=_enum(Side, data, "side"),
            size=_int(data, "size"),
            voided=bool(data.get("voided", False)) or deleted,
            order_id=_int(data, "orderId", 0),
            received_ns=rn,
        )
    if target == "GatewayUserPosition":
        return PositionEvent(
            id=_int(data, "id", 0),  # incremental updates may leave it out (SDK tracking.py)
            account_id=_int(data, "accountId", 0),
            contract_id=_str(data, "contractId"),
            ts=parse_ts(data.get("creationTimestamp"), fallback_ts),
            type=_enum(PositionType, data, "type", PositionType.UNDEFINED),
            size=0 if deleted else _int(data, "size"),
            avg_price=_opt_dec(data.get("averagePrice"), "averagePrice") or Decimal(0),
            received_ns=rn,
        )
    if target == "GatewayUserOrder":
        return OrderEvent(
            id=_int(data, "id"),
            account_id=_int(data, "accountId", 0),
            contract_id=_str(data, "contractId"),
            ts=parse_ts(data.get("updateTimestamp") or data.get("creationTimestamp"), fallback_ts),
            status=_enum(OrderStatus, data, "status", OrderStatus.UNKNOWN),
            type=_enum(OrderType, data, "type", OrderType.UNKNOWN),
            side=_enum(Side, data, "side"),
            size=_int(data, "size"),
            limit_price=_opt_dec(data.get("limitPrice"), "limitPrice"),
            stop_price=_opt_dec(data.get("stopPrice"), "stopPrice"),
            fill_volume=_int(data, "fillVolume", 0) if data.get("fillVolume") is not None else 0,
            filled_price=_opt_dec(data.get("filledPrice"), "filledPrice"),
            custom_tag=data.get("customTag") if isinstance(data.get("customTag"), str) else None,
            received_ns=rn,
            removed=deleted,
        )
    if target == "GatewayUserAccount":
        if deleted:
            raise PayloadError("an account delete (action 2) carries no state: ignored")
        # a field the update leaves out is None, never a default (docs/broker.md)
        name = data.get("name")
        return AccountEvent(
            id=_int(data, "id"),
            name=None if name is None else str(name),
            balance=_opt_dec(data.get("balance"), "balance"),
            can_trade=_opt_bool(data.get("canTrade")),
            ts=parse_ts(data.get("timestamp"), fallback_ts or dt.datetime.now(dt.UTC)),
            received_ns=rn,
        )
    raise PayloadError(f"unknown target {target!r}")


def _quote(payload: Any, fallback_ts: dt.datetime | None, rn: int) -> QuoteEvent:
    contract_id: Any = None
    if isinstance(payload, list | tuple) and len(payload) == 2 and isinstance(payload[0], str):
        contract_id, payload = payload
    data = unwrap(payload)
    contract_id = contract_id or data.get("symbol") or data.get("contractId")
    if not isinstance(contract_id, str) or not contract_id:
        raise PayloadError("quote without a contract id (field 'symbol')")
    bid = _opt_dec(data.get("bestBid"), "bestBid")
    ask = _opt_dec(data.get("bestAsk"), "bestAsk")
    last = _opt_dec(data.get("lastPrice"), "lastPrice")
    if last is None or last == 0:
        if bid is None or ask is None:
            raise PayloadError("quote without lastPrice or bestBid/bestAsk")
        last = (bid + ask) / 2
    ts = parse_ts(data.get("timestamp") or data.get("lastUpdated"), fallback_ts)
    return QuoteEvent(contract_id, ts, last, bid, ask, received_ns=rn)
