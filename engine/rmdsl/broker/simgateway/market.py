"""Matching model of the simulated gateway: quotes and orders in, fills, positions and P&L out.

Synchronous and transport-free: every state change is reported to `sink` as
a Push (hub target + arguments exactly as the real gateway sends them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rmdsl.broker.simgateway.contracts import ContractSpec, SimClock, build_contracts
from rmdsl.broker.simgateway.orders import (
    ERR_ACCOUNT_NOT_FOUND,
    ERR_ACCOUNT_VIOLATION,
    ERR_CONTRACT_NOT_FOUND,
    ERR_INVALID_CLOSE_SIZE,
    ERR_POSITION_NOT_FOUND,
    ERR_REJECTED,
    GatewayRejection,
    OrderBook,
    Quote,
    SimOrder,
    order_payload,
)
from rmdsl.broker.simgateway.positions import (
    Ledger,
    SimAccount,
    account_payload,
    position_payload,
)
from rmdsl.engine.events import OrderStatus, OrderType, Side


@dataclass(frozen=True, slots=True)
class Push:
    """One hub invocation: user pushes carry the account, market pushes the contract."""

    hub: str  # "user" | "market"
    target: str
    arguments: tuple[Any, ...]
    account_id: int | None = None
    contract_id: str | None = None


Sink = Callable[[Push], None]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    account_id: int
    contract_id: str
    type: int
    side: int
    size: int
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    custom_tag: str | None = None


def _matches(spec: ContractSpec, text: str) -> bool:
    if not text or spec.symbol == text or spec.name.startswith(text):
        return True
    words = spec.description.upper().split()
    return len(text) >= 3 and any(word.startswith(text) for word in words)


def _wrap(data: dict[str, Any]) -> tuple[Any, ...]:
    return ({"action": 1, "data": data},)


class Market:
    """Accounts, quotes, working orders and positions of one simulated gateway."""

    def __init__(
        self,
        sink: Sink,
        clock: SimClock | None = None,
        fees: Mapping[str, Decimal] | None = None,
        pnl_net_of_fees: bool = True,
    ) -> None:
        self.sink = sink
        self.clock = clock or SimClock()
        self.contracts: dict[str, ContractSpec] = build_contracts(fees)
        self.accounts: dict[int, SimAccount] = {}
        self.quotes: dict[str, Quote] = {
            cid: Quote.flat(spec.default_price) for cid, spec in self.contracts.items()
        }
        self.book = OrderBook()
        self.ledger = Ledger(pnl_net_of_fees)
        self._account_ids = itertools.count(7001)

    # -- reference data -------------------------------------------------

    def resolve_contract(self, ref: str) -> ContractSpec:
        """A contract by id (CON.F.US.MNQ.Z25), name (MNQZ5) or symbol root (MNQ)."""
        ref = ref.upper()
        for spec in self.contracts.values():
            if ref in (spec.contract_id.upper(), spec.symbol, spec.name):
                return spec
        raise GatewayRejection(ERR_CONTRACT_NOT_FOUND, f"Contract not found: {ref}")

    def search_contracts(self, text: str) -> list[ContractSpec]:
        """Symbol or contract-name prefix; words of the description from 3 letters on."""
        text = text.upper().strip()
        return [spec for spec in self.contracts.values() if _matches(spec, text)]

    def account(self, account_id: int) -> SimAccount:
        acc = self.accounts.get(int(account_id))
        if acc is None:
            raise GatewayRejection(ERR_ACCOUNT_NOT_FOUND, f"Account not found: {account_id}")
        return acc

    def add_account(
        self, name: str, balance: Decimal = Decimal("50000"), can_trade: bool = True
    ) -> SimAccount:
        acc = SimAccount(
            id=next(self._account_ids), name=name, balance=balance, can_trade=can_trade
        )
        self.accounts[acc.id] = acc
        return acc

    def set_can_trade(self, account_id: int, can_trade: bool) -> None:
        acc = self.account(account_id)
        acc.can_trade = can_trade
        self._push_account(acc)

    # -- quotes ----------------------------------------------------------

    def set_quote(
        self,
        contract: str,
        price: Decimal | None = None,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
    ) -> Quote:
        """Move the market; pushes GatewayQuote, then triggers/fills working orders."""
        spec = self.resolve_contract(contract)
        quote = self.quotes[spec.contract_id].moved(price=price, bid=bid, ask=ask)
        self.quotes[spec.contract_id] = quote
        self.sink(
            Push(
                "market",
                "GatewayQuote",
                (spec.contract_id, quote.payload(spec, self.clock.now())),
                contract_id=spec.contract_id,
            )
        )
        for order in self.book.working(spec.contract_id):
            self._evaluate(order, resting=True)
        return quote

    # -- orders ----------------------------------------------------------

    def place_order(self, req: OrderRequest, *, closing: bool = False) -> SimOrder:
        """Validate, accept (push Open), then fill at once if marketable."""
        acc = self.account(req.account_id)
        spec = self.resolve_contract(req.contract_id)
        if not acc.can_trade and not closing:
            raise GatewayRejection(ERR_ACCOUNT_VIOLATION, "Account is not allowed to trade")
        order = self.book.create(req, spec, self.quotes[spec.contract_id], self.clock.now())
        self._push_order(order)
        self._evaluate(order, resting=False)
        return order

    def cancel_order(self, account_id: int, order_id: int) -> SimOrder:
        order = self.book.get_working(self.account(account_id).id, order_id)
        order.status = OrderStatus.CANCELLED
        order.updated = self.clock.now()
        self._push_order(order)
        return order

    def modify_order(
        self,
        account_id: int,
        order_id: int,
        size: int | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        trail_price: Decimal | None = None,
    ) -> SimOrder:
        order = self.book.get_working(self.account(account_id).id, order_id)
        if size is not None and size <= 0:
            raise GatewayRejection(ERR_REJECTED, "Invalid size")
        order.modify(size, limit_price, stop_price, trail_price, self.quotes[order.contract_id])
        order.updated = self.clock.now()
        self._push_order(order)
        self._evaluate(order, resting=False)
        return order

    def close_position(self, account_id: int, contract: str, size: int | None = None) -> SimOrder:
        """closeContract / partialCloseContract: a market order on the opposite side."""
        acc = self.account(account_id)
        spec = self.resolve_contract(contract)
        net = self.ledger.net_size(acc.id, spec.contract_id)
        if net == 0:
            raise GatewayRejection(
                ERR_POSITION_NOT_FOUND, f"No open position in {spec.contract_id}"
            )
        qty = abs(net) if size is None else size
        if qty <= 0 or qty > abs(net):
            raise GatewayRejection(
                ERR_INVALID_CLOSE_SIZE, f"Invalid close size {qty} for position {net}"
            )
        side = Side.SELL if net > 0 else Side.BUY
        req = OrderRequest(acc.id, spec.contract_id, OrderType.MARKET, side, qty)
        return self.place_order(req, closing=True)

    # -- queries (gateway payloads) -------------------------------------

    def open_positions(self, account_id: int) -> list[dict[str, Any]]:
        acc = self.account(account_id)
        return [position_payload(p) for p in self.ledger.open_positions(acc.id)]

    def orders(self, account_id: int, *, open_only: bool) -> list[dict[str, Any]]:
        acc = self.account(account_id)
        found = self.book.for_account(acc.id, open_only=open_only)
        return [order_payload(o, self.contracts[o.contract_id]) for o in found]

    def iter_accounts(self) -> Iterator[SimAccount]:
        return iter(self.accounts.values())

    # -- internals -------------------------------------------------------

    def _evaluate(self, order: SimOrder, *, resting: bool) -> None:
        quote = self.quotes[order.contract_id]
        moved = order.track(quote)
        price = order.fill_price(quote, resting=resting)
        if price is not None:
            self._fill(order, price)
        elif moved:
            order.updated = self.clock.now()
            self._push_order(order)

    def _fill(self, order: SimOrder, price: Decimal) -> None:
        spec = self.contracts[order.contract_id]
        acc = self.accounts[order.account_id]
        now = self.clock.now()
        trade, position = self.ledger.fill(acc, spec, order, price, now)
        order.status = OrderStatus.FILLED
        order.fill_volume = order.size
        order.filled_price = price
        order.updated = now
        self.quotes[spec.contract_id] = replace(
            self.quotes[spec.contract_id], volume=self.quotes[spec.contract_id].volume + order.size
        )
        self.sink(Push("user", "GatewayUserTrade", _wrap(trade), account_id=acc.id))
        self._push_order(order)
        self.sink(
            Push(
                "user", "GatewayUserPosition", _wrap(position_payload(position)), account_id=acc.id
            )
        )
        self._push_account(acc)

    def _push_order(self, order: SimOrder) -> None:
        payload = order_payload(order, self.contracts[order.contract_id])
        self.sink(Push("user", "GatewayUserOrder", _wrap(payload), account_id=order.account_id))

    def _push_account(self, acc: SimAccount) -> None:
        self.sink(
            Push("user", "GatewayUserAccount", _wrap(account_payload(acc)), account_id=acc.id)
        )
