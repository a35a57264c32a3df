"""Quotes and working orders of the simulated gateway: when does an order fill, and at what price.

Buys reference the ask, sells the bid. Marketable orders fill at the quote;
resting limits fill at their limit; stops trigger on the same side of the
quote they fill on (docs/simgateway.md, "What differs").
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rmdsl.broker.simgateway.contracts import ContractSpec, iso
from rmdsl.contract.events import OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from rmdsl.broker.simgateway.market import OrderRequest

# Error codes as the gateway's PlaceOrder / CancelOrder responses number them.
ERR_ACCOUNT_NOT_FOUND = 1
ERR_REJECTED = 2
ERR_ORDER_NOT_FOUND = 2
# closeContract / partialCloseContract number their own (docs/simgateway.md, "Closing"):
# 1 AccountNotFound, 2 PositionNotFound, 3 ContractNotFound, 5 InvalidCloseSize (partial only),
# the account rejected: 8 on closeContract, 9 on partialCloseContract
ERR_CLOSE_ACCOUNT_NOT_FOUND = 1
ERR_POSITION_NOT_FOUND = 2
ERR_CLOSE_CONTRACT_NOT_FOUND = 3
ERR_INVALID_CLOSE_SIZE = 5
ERR_CLOSE_REJECTED = 9
ERR_CLOSE_ACCOUNT_REJECTED = 8
ERR_ACCOUNT_VIOLATION = 4
ERR_UNKNOWN = 7
ERR_CONTRACT_NOT_FOUND = 8


class GatewayRejection(Exception):
    """A request the gateway answers with success false, errorCode, errorMessage."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: int = 0

    @classmethod
    def flat(cls, price: Decimal) -> Quote:
        return cls(price, price, price, price, price, price)

    def moved(self, price: Decimal | None, bid: Decimal | None, ask: Decimal | None) -> Quote:
        """A price alone sets bid = ask = last; bid/ask alone keep the last trade price."""
        last = price if price is not None else self.last
        new_bid = bid if bid is not None else (price if price is not None else self.bid)
        new_ask = ask if ask is not None else (price if price is not None else self.ask)
        return replace(
            self,
            bid=new_bid,
            ask=new_ask,
            last=last,
            high=max(self.high, last),
            low=min(self.low, last),
        )

    def payload(self, spec: ContractSpec, now: dt.datetime) -> dict[str, Any]:
        change = self.last - self.open
        return {
            "symbol": spec.symbol_id,
            "symbolName": f"/{spec.symbol}",
            "lastPrice": float(self.last),
            "bestBid": float(self.bid),
            "bestAsk": float(self.ask),
            "change": float(change),
            "changePercent": float(change / self.open * 100) if self.open else 0.0,
            "open": float(self.open),
            "high": float(self.high),
            "low": float(self.low),
            "volume": self.volume,
            "lastUpdated": iso(now),
            "timestamp": iso(now),
        }


@dataclass(slots=True)
class SimOrder:
    id: int
    account_id: int
    contract_id: str
    type: OrderType
    side: Side
    size: int
    created: dt.datetime
    updated: dt.datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    custom_tag: str | None = None
    status: OrderStatus = OrderStatus.OPEN
    fill_volume: int = 0
    filled_price: Decimal | None = None
    triggered: bool = False
    anchor: Decimal | None = field(default=None)

    def track(self, quote: Quote) -> bool:
        """Trail the stop / arm a stop-limit; True when the order changed visibly."""
        if self.type is OrderType.STOP_LIMIT and not self.triggered:
            self.triggered = self._stop_hit(quote)
            return False
        if self.type is not OrderType.TRAILING_STOP or self.trail_price is None:
            return False
        ref = quote.bid if self.side is Side.SELL else quote.ask
        better = self.anchor is None or (
            ref > self.anchor if self.side is Side.SELL else ref < self.anchor
        )
        if not better:
            return False
        self.anchor = ref
        self.stop_price = (
            ref - self.trail_price if self.side is Side.SELL else ref + self.trail_price
        )
        return True

    def fill_price(self, quote: Quote, *, resting: bool) -> Decimal | None:
        """The fill price under this quote, or None while the order keeps working."""
        ref = quote.ask if self.side is Side.BUY else quote.bid
        if self.type is OrderType.MARKET:
            return ref
        if self.type in (OrderType.STOP, OrderType.TRAILING_STOP):
            return ref if self._stop_hit(quote) else None
        if self.type is OrderType.STOP_LIMIT and not self.triggered:
            return None
        assert self.limit_price is not None
        marketable = ref <= self.limit_price if self.side is Side.BUY else ref >= self.limit_price
        if not marketable:
            return None
        return self.limit_price if resting else ref

    def _stop_hit(self, quote: Quote) -> bool:
        assert self.stop_price is not None
        if self.side is Side.BUY:
            return quote.ask >= self.stop_price
        return quote.bid <= self.stop_price

    def modify(
        self,
        size: int | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
        trail_price: Decimal | None,
        quote: Quote,
    ) -> None:
        if size is not None:
            self.size = size
        if limit_price is not None:
            self.limit_price = limit_price
        if stop_price is not None:
            self.stop_price = stop_price
            self.anchor = None if trail_price is None else self.anchor
        if trail_price is not None:
            self.trail_price = trail_price
            self.anchor = None
            self.track(quote)


def _validate(req: OrderRequest) -> tuple[OrderType, Side]:
    try:
        kind, side = OrderType(req.type), Side(req.side)
    except ValueError as exc:
        raise GatewayRejection(ERR_REJECTED, f"Invalid order type or side: {exc}") from None
    if kind is OrderType.UNKNOWN:  # the gateway reports 0 Unknown; nobody can place one
        raise GatewayRejection(ERR_REJECTED, "Invalid order type or side: 0 is Unknown")
    if not isinstance(req.size, int) or req.size <= 0:
        raise GatewayRejection(ERR_REJECTED, f"Invalid size: {req.size}")
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) and req.limit_price is None:
        raise GatewayRejection(ERR_REJECTED, "Limit price is required")
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and req.stop_price is None:
        raise GatewayRejection(ERR_REJECTED, "Stop price is required")
    if kind is OrderType.TRAILING_STOP and (req.trail_price is None or req.trail_price <= 0):
        raise GatewayRejection(ERR_REJECTED, "Trail price (distance) is required")
    return kind, side


@dataclass(frozen=True, slots=True)
class TagReuse:
    """The answer to an order whose customTag the account used before. The official Order/place
    page says a tag must be unique across the account; the code and message the real gateway
    answers with are not documented (unknown: settable; 2 is Order/place's OrderRejected)."""

    code: int = ERR_REJECTED
    message: str = "Custom tag already in use"


class OrderBook:
    """Every order the gateway accepted, by id; working ones are status OPEN (or PENDING)."""

    def __init__(self, tag_reuse: TagReuse | None = None) -> None:
        self.orders: dict[int, SimOrder] = {}
        self._ids = itertools.count(1_000_001)
        self.tag_reuse = tag_reuse or TagReuse()
        self._tags: dict[int, set[str]] = {}  # every customTag each account has sent

    def claim_tag(self, account_id: int, tag: str | None) -> None:
        """Burn the tag for the account, or reject the order if it was used before: the tag of
        an order rejected for any other reason is burnt too (it was claimed first)."""
        if not tag:
            return
        used = self._tags.setdefault(account_id, set())
        if tag in used:
            raise GatewayRejection(self.tag_reuse.code, f"{self.tag_reuse.message}: {tag}")
        used.add(tag)

    def create(
        self, req: OrderRequest, spec: ContractSpec, quote: Quote, now: dt.datetime
    ) -> SimOrder:
        kind, side = _validate(req)
        limit = req.limit_price
        if kind is OrderType.JOIN_BID:
            limit = quote.bid
        elif kind is OrderType.JOIN_ASK:
            limit = quote.ask
        order = SimOrder(
            id=next(self._ids),
            account_id=req.account_id,
            contract_id=spec.contract_id,
            type=kind,
            side=side,
            size=req.size,
            created=now,
            updated=now,
            limit_price=limit,
            stop_price=req.stop_price,
            trail_price=req.trail_price,
            custom_tag=req.custom_tag,
            # a market order starts at status 6 PENDING (live captures, docs/simgateway.md)
            status=OrderStatus.PENDING if kind is OrderType.MARKET else OrderStatus.OPEN,
        )
        self.orders[order.id] = order
        return order

    def working(self, contract_id: str) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.contract_id == contract_id and _working(o)]

    def get_working(self, account_id: int, order_id: int) -> SimOrder:
        order = self.orders.get(int(order_id))
        if order is None or order.account_id != account_id or not _working(order):
            raise GatewayRejection(
                ERR_ORDER_NOT_FOUND, f"Order {order_id} not found or not working"
            )
        return order

    def get(self, account_id: int, order_id: int) -> SimOrder | None:
        order = self.orders.get(int(order_id))
        return order if order is not None and order.account_id == account_id else None

    def for_account(self, account_id: int, *, open_only: bool) -> list[SimOrder]:
        return [
            o
            for o in self.orders.values()
            if o.account_id == account_id and (not open_only or _working(o))
        ]


def _working(order: SimOrder) -> bool:
    return order.status in (OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.SUSPENDED)


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def order_payload(order: SimOrder, spec: ContractSpec) -> dict[str, Any]:
    """The Order object of /Order/search* and of GatewayUserOrder."""
    return {
        "id": order.id,
        "accountId": order.account_id,
        "contractId": order.contract_id,
        "symbolId": spec.symbol_id,
        "creationTimestamp": iso(order.created),
        "updateTimestamp": iso(order.updated),
        "status": int(order.status),
        "type": int(order.type),
        "side": int(order.side),
        "size": order.size,
        "limitPrice": _num(order.limit_price),
        "stopPrice": _num(order.stop_price),
        "fillVolume": order.fill_volume,
        "filledPrice": _num(order.filled_price),
        "customTag": order.custom_tag,
    }
