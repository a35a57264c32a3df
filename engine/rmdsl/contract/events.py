"""The broker-neutral events the engine consumes: the contract between engine and broker.

Neither side owns this module: rmdsl.broker's adapters produce these events
(decoding gateway payloads in rmdsl.broker.decode) and rmdsl.engine consumes
them. Every event carries `ts` (the broker's time, tz-aware UTC) and
`received_ns` (time.monotonic_ns() when our process first saw it: enforcement
latency is measured from there; docs/events.md).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import time
from dataclasses import dataclass, field
from decimal import Decimal


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


def now_ns() -> int:
    return time.monotonic_ns()


class OnContract:
    """An event about one contract (a fill, a position, an order, a quote): rules name the
    contract by its symbol, read from the id (`symbol_of`)."""

    __slots__ = ()
    contract_id: str

    @property
    def symbol(self) -> str:
        return symbol_of(self.contract_id)


@dataclass(frozen=True, slots=True)
class TradeEvent(OnContract):
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
    received_ns: int = field(default_factory=now_ns, compare=False)

    @property
    def is_close(self) -> bool:
        return self.pnl is not None

    @property
    def net_pnl(self) -> Decimal:
        """Gross minus this fill's fees: an opening fill's is -fees."""
        return (self.pnl if self.pnl is not None else Decimal(0)) - self.fees


@dataclass(frozen=True, slots=True)
class PositionEvent(OnContract):
    """GatewayUserPosition: size 0 means closed."""

    id: int
    account_id: int
    contract_id: str
    ts: dt.datetime
    type: PositionType
    size: int
    avg_price: Decimal
    received_ns: int = field(default_factory=now_ns, compare=False)


@dataclass(frozen=True, slots=True)
class OrderEvent(OnContract):
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
    received_ns: int = field(default_factory=now_ns, compare=False)
    removed: bool = False  # the gateway deleted the order (envelope action 2): it is gone

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
    received_ns: int = field(default_factory=now_ns, compare=False)


@dataclass(frozen=True, slots=True)
class QuoteEvent(OnContract):
    """GatewayQuote, reduced to a price: last, or the bid/ask midpoint when last is 0."""

    contract_id: str
    ts: dt.datetime
    price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    received_ns: int = field(default_factory=now_ns, compare=False)


@dataclass(frozen=True, slots=True)
class ClockEvent:
    """Time passes: timers, sessions and resets are checked against ts."""

    ts: dt.datetime
    received_ns: int = field(default_factory=now_ns, compare=False)


class ConnectionState(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONCILED = "reconciled"


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    state: ConnectionState
    ts: dt.datetime
    received_ns: int = field(default_factory=now_ns, compare=False)


Event = (
    TradeEvent
    | PositionEvent
    | OrderEvent
    | AccountEvent
    | QuoteEvent
    | ClockEvent
    | ConnectionEvent
)

# The gateway's contract ids name two roots differently from the exchange symbols
# traders write in rules: E-mini S&P is `CON.F.US.EP.*`, E-mini Nasdaq `CON.F.US.ENQ.*`.
CONTRACT_ROOT_ALIASES = {"EP": "ES", "ENQ": "NQ"}


@functools.lru_cache(maxsize=1024)  # a fill asks ~8 times, every quote once: a few ids
def symbol_of(contract_id: str) -> str:
    """`CON.F.US.MNQ.Z25` -> `MNQ`, `CON.F.US.EP.Z25` -> `ES`; else upper-cased as is."""
    parts = contract_id.split(".")
    if len(parts) >= 5 and parts[0] == "CON":
        root = parts[3].upper()
        return CONTRACT_ROOT_ALIASES.get(root, root)
    return contract_id.upper()
