"""The order of one fill's events (Order, Trade, Position, Account) never changes what rmdsl does.

Live captures show Order (PENDING) -> Order (FILLED) -> Trade -> Position ->
Account; no source says it is always so (docs/engine.md, "One fill, several
events"). A session of fills is fed with each fill's events in every order
hypothesis picks: the broker calls rmdsl makes, and the state it ends in, are
those of the live order, and no protective order is ever placed for a position
the fill closed.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from enginekit import MNQ, Harness, at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmdsl.contract.broker import OrderChange, OrderRequest
from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    OrderStatus,
    OrderType,
    PositionEvent,
    PositionType,
    QuoteEvent,
    Side,
    TradeEvent,
)
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import Ruleset

ROOT = Path(__file__).resolve().parents[2]
RULES = """\
rmdsl: 1
name: fill-order
extends: {base}
rules:
  too_many:
    when: positions.contracts > 2
    do: [reduce_position(to: 2)]
    message: "more than 2 contracts"
  loss_cut:
    on: [trade]
    when: day.realized_pnl <= -$30
    do: [flatten]
    message: "daily loss"
"""
D = Decimal
# one fill's events after the first (the PENDING order, sent when the order is accepted)
Fill = list[Event]


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    path = tmp_path_factory.mktemp("rules") / "fill-order.yaml"
    base = ROOT / "rulesets" / "base" / "trade-management.yaml"
    path.write_text(RULES.format(base=base), encoding="utf-8")
    return load_ruleset(path)


class Tape:
    """Builds the events of fills as the gateway sends them, numbering ids."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.net = 0
        self.avg = D(0)
        self.balance = D(50000)

    def fill(
        self, t: float, side: Side, size: int, price: int, order: OrderEvent | None = None
    ) -> tuple[OrderEvent, Fill]:
        """(the order as first announced, the fill's events in the live order)."""
        ts = at(t)
        oid = order.id if order is not None else next(self.ids)
        kind = order.type if order is not None else OrderType.MARKET
        pending = OrderEvent(oid, 1, MNQ, ts, OrderStatus.PENDING, kind, side, size)
        filled = OrderEvent(
            oid, 1, MNQ, ts, OrderStatus.FILLED, kind, side, size,
            stop_price=order.stop_price if order else None, fill_volume=size,
            filled_price=D(price),
        )  # fmt: skip
        pnl = self._book(side, size, D(price))
        trade = TradeEvent(next(self.ids), 1, MNQ, ts, D(price), pnl, D("0.37"), side, size,
                           order_id=oid)  # fmt: skip
        net_type = PositionType.LONG if self.net > 0 else PositionType.SHORT
        position = PositionEvent(7, 1, MNQ, ts, net_type if self.net else PositionType.SHORT,
                                 abs(self.net), self.avg)  # fmt: skip
        account = AccountEvent(1, "A", self.balance, True, ts)
        return pending, [filled, trade, position, account]

    def sync(self, h: Harness) -> None:
        """What rmdsl's own closes did to the position (the recording broker simulated them)."""
        pos = h.engine.state.positions.get(MNQ)
        self.net = 0 if pos is None else pos.size if pos.long else -pos.size
        self.avg = pos.avg_price if pos is not None else D(0)

    def _book(self, side: Side, size: int, price: Decimal) -> Decimal | None:
        signed = size if side is Side.BUY else -size
        closed = 0 if self.net == 0 or (self.net > 0) == (signed > 0) else min(abs(self.net), size)
        pnl = None
        if closed:
            direction = 1 if self.net > 0 else -1
            pnl = (price - self.avg) * closed * direction * 2  # MNQ: $2 a point
            self.balance += pnl
        opened = size - closed
        if opened and closed:
            self.avg = price
        elif opened:
            self.avg = (self.avg * abs(self.net) + price * opened) / (abs(self.net) + opened)
        self.net += signed
        return pnl


class Checked(Harness):
    """A harness whose broker notes every protective call for a contract the state holds flat:
    an order placed (attach_stop, attach_target) or a stop moved (breakeven, trail_stop)."""

    def __init__(self, rs: Ruleset) -> None:
        super().__init__(rs)
        self.flat_places: list[object] = []
        place, modify = self.broker.place_order, self.broker.modify_order

        async def checked(req: OrderRequest) -> int:
            if req.contract_id not in self.engine.state.positions:
                self.flat_places.append(req)
            return await place(req)

        async def checked_modify(order_id: int, change: OrderChange) -> None:
            known = self.engine.state.orders.get(order_id)
            if known is None or known.contract_id not in self.engine.state.positions:
                self.flat_places.append(("modify_order", order_id, change))
            await modify(order_id, change)

        self.broker.place_order = checked  # type: ignore[method-assign]
        self.broker.modify_order = checked_modify  # type: ignore[method-assign]


async def session(rs: Ruleset, orders: list[list[int]]) -> Checked:
    """Open 2 long, the stop rmdsl attached fills; open 1, add 2 (over the limit), then a flip
    to short and a losing close. `orders[i]` permutes the events of fill i."""
    h = Checked(rs)
    await h.start()
    tape = Tape()
    fills = iter(orders)

    async def fill(t: float, side: Side, size: int, price: int, on: OrderEvent | None) -> None:
        tape.sync(h)
        pending, events = tape.fill(t, side, size, price, on)
        if on is None:
            await h.feed(pending)
        await h.feed(*[events[i] for i in next(fills)])

    await h.feed(quote_at(0, 21000))
    await fill(1, Side.BUY, 2, 21000, None)
    await fill(2, Side.SELL, 2, 20995, stop_of(h))  # the stop rmdsl attached fills
    await fill(3, Side.BUY, 1, 21000, None)
    await fill(4, Side.BUY, 2, 21001, None)  # 3 contracts: rmdsl reduces to 2 (simulated)
    await h.feed(quote_at(5, 21004))
    await fill(6, Side.SELL, 3, 21004, None)  # a flip: short 1
    await fill(7, Side.BUY, 1, 21030, None)  # losing close of the short: the loss cut
    return h


def quote_at(t: float, price: int) -> Event:
    return QuoteEvent(MNQ, at(t), D(price))


def stop_of(h: Harness) -> OrderEvent:
    stops = [o.event for o in h.engine.state.orders.values() if o.event.type.is_stop]
    assert stops, "rmdsl attached no stop"
    return stops[0]


LIVE = [0, 1, 2, 3]  # Order (FILLED), Trade, Position, Account
FILLS = 6


def calls(h: Harness) -> list[str]:
    return [c.describe() for c in h.broker.calls if c.method != "connect"]


def end_state(h: Harness) -> tuple[object, ...]:
    s = h.engine.state
    day = s.ctx.day
    positions = sorted((c, p.long, p.size, p.avg_price) for c, p in s.positions.items())
    return (positions, day.trades, day.realized_pnl, sorted(s.orders))


async def test_the_live_order_is_the_baseline(ruleset: Ruleset) -> None:
    h = await session(ruleset, [LIVE] * FILLS)
    sent = calls(h)
    assert sum(c.startswith("place_order") for c in sent) >= 4  # stops and targets
    assert sum(c.startswith("modify_order") for c in sent) >= 2  # breakeven, then the trail
    assert any(c.startswith("partial_close") for c in sent)  # 3 contracts reduced to 2
    assert not h.engine.state.positions
    assert h.flat_places == []


async def test_the_stop_fill_with_the_order_first_attaches_no_stop(ruleset: Ruleset) -> None:
    """The regression: the stop's FILLED order came before its trade, and the rule that wants
    a stop on every position put one on the position that fill had just closed."""
    h = Checked(ruleset)
    await h.start()
    tape = Tape()
    await h.feed(quote_at(0, 21000))
    pending, events = tape.fill(1, Side.BUY, 1, 21000)
    await h.feed(pending, *events)
    placed = len([c for c in h.broker.calls if c.method == "place_order"])
    _, events = tape.fill(2, Side.SELL, 1, 20990, stop_of(h))
    await h.feed(events[0])  # Order FILLED alone: the position is flat now
    assert not h.engine.state.positions
    await h.feed(*events[1:])
    assert len([c for c in h.broker.calls if c.method == "place_order"]) == placed
    assert h.flat_places == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.permutations(LIVE), min_size=FILLS, max_size=FILLS))
async def test_actions_do_not_depend_on_the_order_within_a_fill(
    ruleset: Ruleset, orders: list[list[int]]
) -> None:
    baseline = await session(ruleset, [LIVE] * FILLS)
    shuffled = await session(ruleset, orders)
    assert calls(shuffled) == calls(baseline)
    assert end_state(shuffled) == end_state(baseline)
    assert shuffled.flat_places == []
