"""Matching model of the simulated gateway: quotes and orders in, fills, positions and P&L out.

Synchronous and transport-free: every state change is reported to `sink` as
a Push (hub target + arguments exactly as the real gateway sends them).
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rmdsl.broker.simgateway.contracts import ContractSpec, SimClock, build_contracts
from rmdsl.broker.simgateway.orders import (
    ERR_ACCOUNT_NOT_FOUND,
    ERR_ACCOUNT_VIOLATION,
    ERR_CLOSE_ACCOUNT_NOT_FOUND,
    ERR_CLOSE_ACCOUNT_REJECTED,
    ERR_CLOSE_CONTRACT_NOT_FOUND,
    ERR_CLOSE_REJECTED,
    ERR_CONTRACT_NOT_FOUND,
    ERR_INVALID_CLOSE_SIZE,
    ERR_POSITION_NOT_FOUND,
    ERR_REJECTED,
    GatewayRejection,
    OrderBook,
    Quote,
    SimOrder,
    TagReuse,
    order_payload,
)
from rmdsl.broker.simgateway.positions import (
    Ledger,
    SimAccount,
    account_payload,
    position_payload,
)
from rmdsl.contract.events import OrderStatus, OrderType, Side


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


def _wrap(data: dict[str, Any], action: int = 1) -> tuple[Any, ...]:
    """The user hub's envelope: trades arrive as action 0, updates as 1 (live captures)."""
    return ({"action": action, "data": data},)


class Market:
    """Accounts, quotes, working orders and positions of one simulated gateway."""

    def __init__(
        self,
        sink: Sink,
        clock: SimClock | None = None,
        fees: Mapping[str, Decimal] | None = None,
        *,
        shuffle_seed: int | None = None,
        tag_reuse: TagReuse | None = None,
        partial_status: OrderStatus = OrderStatus.OPEN,
    ) -> None:
        self.sink = sink
        self.clock = clock or SimClock()
        self.contracts: dict[str, ContractSpec] = build_contracts(fees)
        self.accounts: dict[int, SimAccount] = {}
        self.quotes: dict[str, Quote] = {
            cid: Quote.flat(spec.default_price) for cid, spec in self.contracts.items()
        }
        self.book = OrderBook(tag_reuse)
        self.ledger = Ledger()
        self._account_ids = itertools.count(7001)
        # None: the user events of a fill go out in the live order; a seed shuffles them
        self.shuffle = random.Random(shuffle_seed) if shuffle_seed is not None else None
        self._splits: deque[tuple[int, ...]] = deque()  # partial-fill plans, next fill first
        self.partial_status = partial_status  # a partly filled order's status: unknown, settable
        # whether closeContract works while canTrade is false: no source says (docs/simgateway.md)
        self.closes_when_cannot_trade = True

    # -- reference data -------------------------------------------------

    def resolve_contract(self, ref: str) -> ContractSpec:
        """A contract by id (CON.F.US.EP.Z25), name (ESZ5), symbol (ES) or gateway root (EP)."""
        ref = ref.upper()
        for spec in self.contracts.values():
            if ref in (spec.contract_id.upper(), spec.symbol, spec.root, spec.name):
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

    def split_next_fill(self, sizes: Sequence[int]) -> None:
        """The next order that fills does so in these steps (one Trade, one Order with its
        fillVolume, one Position and one Account each); sizes past the order's are cut."""
        if not sizes or any(n <= 0 for n in sizes):
            raise ValueError(f"partial fill sizes must be positive, got {sizes!r}")
        self._splits.append(tuple(sizes))

    def place_order(self, req: OrderRequest, *, closing: bool = False) -> SimOrder:
        """Validate, accept (push Open, or Pending for a market order), then fill at once if
        marketable. The customTag is claimed first: a rejected order burns its tag too."""
        acc = self.account(req.account_id)
        self.book.claim_tag(acc.id, req.custom_tag)
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
        """closeContract / partialCloseContract: a market order on the opposite side; the
        bracket and working orders of the contract are left as they are."""
        acc = self._close_account(account_id)
        try:
            spec = self.resolve_contract(contract)
        except GatewayRejection as exc:
            raise GatewayRejection(ERR_CLOSE_CONTRACT_NOT_FOUND, exc.message) from None
        if not acc.can_trade and not self.closes_when_cannot_trade:
            # the account rejected: 8 on closeContract, 9 on partialCloseContract
            code = ERR_CLOSE_ACCOUNT_REJECTED if size is None else ERR_CLOSE_REJECTED
            raise GatewayRejection(code, "Account is not allowed to trade")
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

    def _close_account(self, account_id: int) -> SimAccount:
        try:
            return self.account(account_id)
        except GatewayRejection as exc:
            raise GatewayRejection(ERR_CLOSE_ACCOUNT_NOT_FOUND, exc.message) from None

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
        """Fill what is left of the order, in the steps of a split plan if one is armed."""
        left = order.size - order.fill_volume
        for size in self._steps(left):
            self._fill_step(order, price, size)

    def _steps(self, left: int) -> list[int]:
        steps: list[int] = []
        for size in self._splits.popleft() if self._splits else ():
            size = min(size, left - sum(steps))
            if size > 0:
                steps.append(size)
        if sum(steps) < left:
            steps.append(left - sum(steps))
        return steps

    def _fill_step(self, order: SimOrder, price: Decimal, size: int) -> None:
        """One fill: Order (fillVolume, FILLED once complete) -> Trade -> Position -> Account,
        as live captures show them, or shuffled when the gateway was given a seed."""
        spec = self.contracts[order.contract_id]
        acc = self.accounts[order.account_id]
        now = self.clock.now()
        trade, position = self.ledger.fill(acc, spec, order, price, now, size)
        before = order.fill_volume
        order.fill_volume += size
        paid = (order.filled_price or Decimal(0)) * before + price * size
        order.filled_price = paid / order.fill_volume
        if order.fill_volume >= order.size:
            order.status = OrderStatus.FILLED
        else:
            order.status = self.partial_status  # partly filled: still working
        order.updated = now
        self.quotes[spec.contract_id] = replace(
            self.quotes[spec.contract_id], volume=self.quotes[spec.contract_id].volume + size
        )
        user = [
            ("GatewayUserOrder", order_payload(order, spec)),
            ("GatewayUserTrade", trade),
            ("GatewayUserPosition", position_payload(position)),
            ("GatewayUserAccount", account_payload(acc)),
        ]
        if self.shuffle is not None:
            self.shuffle.shuffle(user)
        for target, data in user:
            action = 0 if target == "GatewayUserTrade" else 1
            self.sink(Push("user", target, _wrap(data, action), account_id=acc.id))

    def _push_order(self, order: SimOrder) -> None:
        payload = order_payload(order, self.contracts[order.contract_id])
        self.sink(Push("user", "GatewayUserOrder", _wrap(payload), account_id=order.account_id))

    def _push_account(self, acc: SimAccount) -> None:
        self.sink(
            Push("user", "GatewayUserAccount", _wrap(account_payload(acc)), account_id=acc.id)
        )
