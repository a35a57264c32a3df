"""What the engine needs from a broker (docs/decisions.md Q15): broker-neutral, async.

The engine and the enforcement layer import only this module. TopstepX via
project-x-py (rmdsl.broker.projectx) is the one implementation; another
broker is another class with these methods and no engine change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    OrderType,
    PositionEvent,
    Side,
    TradeEvent,
)

EventSink = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ContractInfo:
    contract_id: str
    symbol: str
    tick_size: Decimal
    tick_value: Decimal


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The account as the REST API sees it now: used at start and after a reconnect."""

    account: AccountEvent
    positions: tuple[PositionEvent, ...]
    open_orders: tuple[OrderEvent, ...]
    trades_today: tuple[TradeEvent, ...]
    contracts: tuple[ContractInfo, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class OrderRequest:
    contract_id: str
    type: OrderType
    side: Side
    size: int
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    custom_tag: str | None = None


@dataclass(frozen=True, slots=True)
class OrderChange:
    """What a modify_order changes in a working order (None: left as it is)."""

    size: int | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


class Broker(Protocol):
    """Every method raises rmdsl.errors.BrokerError on failure (SDK error, rejection, timeout)."""

    async def connect(self, sink: EventSink) -> None:
        """Authenticate, choose the account, subscribe; deliver every event to `sink` in order."""

    async def disconnect(self) -> None: ...

    async def snapshot(self) -> Snapshot: ...

    async def contract_info(self, contract_id: str) -> ContractInfo: ...

    async def close_position(self, contract_id: str) -> None: ...

    async def partial_close(self, contract_id: str, size: int) -> None: ...

    async def cancel_order(self, order_id: int) -> None: ...

    async def place_order(self, request: OrderRequest) -> int:
        """Returns the new order's id."""
        ...

    async def modify_order(self, order_id: int, change: OrderChange) -> None: ...
