"""Quotes in a fleet: an account follows a contract only while exposed in it, a new
follower is handed the latest quote first, a quote's fan-out lets user-hub events go
ahead, and each account still sees its own events in arrival order."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
from decimal import Decimal

from rmdsl.broker.projectx_routes import Routes
from rmdsl.broker.projectx_stream import Handoff
from rmdsl.contract import events as ev

MNQ, ES = "CON.F.US.MNQ.Z25", "CON.F.US.EP.Z25"
TS = dt.datetime(2026, 11, 27, 15, tzinfo=dt.UTC)


class Recorder(Handoff):
    """A handoff that records each put (account, event) in one log shared by all accounts."""

    def __init__(self, account_id: int, log: list[tuple[int, ev.Event]]) -> None:
        async def unused(event: ev.Event) -> None:
            raise AssertionError("not pumped in these tests")

        super().__init__(unused)
        self.account_id, self.log = account_id, log

    def put(self, event: ev.Event) -> None:
        self.log.append((self.account_id, event))


def routes_of(n: int, quote_slice: int = 16) -> tuple[Routes, list[tuple[int, ev.Event]]]:
    routes, log = Routes(quote_slice=quote_slice), []
    for account_id in range(1, n + 1):
        routes.add(account_id, Recorder(account_id, log))
    return routes, log


def quote(price: int, contract_id: str = MNQ) -> ev.QuoteEvent:
    return ev.QuoteEvent(contract_id, TS, Decimal(price))


def order(oid: int, account_id: int, status: ev.OrderStatus = ev.OrderStatus.OPEN) -> ev.OrderEvent:
    return ev.OrderEvent(oid, account_id, MNQ, TS, status, ev.OrderType.STOP, ev.Side.SELL, 1)


def position(pid: int, account_id: int, size: int = 1) -> ev.PositionEvent:
    return ev.PositionEvent(pid, account_id, MNQ, TS, ev.PositionType.LONG, size, Decimal(21000))


def fill(tid: int, account_id: int) -> ev.TradeEvent:
    return ev.TradeEvent(tid, account_id, MNQ, TS, Decimal(21000), None, Decimal(0), ev.Side.BUY, 3)


def of(log: list[tuple[int, ev.Event]], account_id: int) -> list[ev.Event]:
    return [event for who, event in log if who == account_id]


async def fanned(routes: Routes) -> None:
    """Let the quotes' fan-out task run to its end."""
    for _ in range(1_000):
        if routes._fanning is None:
            return
        await asyncio.sleep(0)
    raise AssertionError("the fan-out did not finish")


async def test_an_account_follows_only_while_exposed_and_gets_the_latest_quote_first() -> None:
    routes, log = routes_of(3)
    q1, q2, q3, q4 = quote(1), quote(2), quote(3), quote(4)
    assert not routes.deliver(q1)  # nobody exposed in MNQ: the quote goes nowhere
    working = order(8, 1)
    routes.deliver(working)
    assert of(log, 1) == [q1, working]  # the latest quote before the order that follows
    routes.deliver(q2)
    cancelled = order(8, 1, ev.OrderStatus.CANCELLED)
    routes.deliver(cancelled)
    assert routes.following(MNQ) == frozenset()
    routes.deliver(q3)  # account 1 flat and without orders: not handed it
    opened, closed = position(5, 1), position(5, 1, 0)
    routes.deliver(opened)
    assert of(log, 1) == [q1, working, q2, cancelled, q3, opened]
    routes.deliver(closed)
    again = order(9, 1)
    routes.deliver(again)  # it already has the latest quote (q3): no repeat
    routes.deliver(q4)
    assert of(log, 1)[-3:] == [closed, again, q4]
    assert of(log, 2) == of(log, 3) == []
    assert routes.unrouted == 0


async def test_a_position_and_an_order_both_gone_before_the_account_stops_following() -> None:
    routes, _log = routes_of(2)
    routes.deliver(position(5, 1))
    routes.deliver(order(8, 1))
    routes.deliver(position(5, 1, 0))  # flat, but its order still works
    assert routes.following(MNQ) == {1}
    routes.deliver(order(8, 1, ev.OrderStatus.FILLED))
    assert routes.following(MNQ) == frozenset()
    routes.expose(2, [order(20, 2)])  # a snapshot's working order: account 2 follows
    assert routes.following(MNQ) == {2}


async def test_a_fill_goes_ahead_of_a_quotes_fan_out_to_other_accounts() -> None:
    routes, log = routes_of(40, quote_slice=4)
    for account_id in range(1, 41):
        routes.deliver(position(account_id, account_id))
    log.clear()
    q, breaking = quote(7), fill(1, 40)
    routes.deliver(q)
    routes.deliver(breaking)  # arrives in the same turn, before the loop runs again
    before = log[: log.index((40, breaking))]
    assert before == [(40, q)]  # only its own account's earlier quote went first
    await fanned(routes)
    assert sorted(who for who, event in log if event is q) == list(range(1, 41))
    assert of(log, 40) == [q, breaking]


async def test_the_fan_out_hands_one_slice_per_loop_turn() -> None:
    routes, log = routes_of(40, quote_slice=4)
    for account_id in range(1, 41):
        routes.deliver(position(account_id, account_id))
    log.clear()
    routes.deliver(quote(7))
    handed: list[int] = []
    while routes._fanning is not None:
        await asyncio.sleep(0)
        handed.append(len(log))
    assert handed[0] == 4 and handed[-1] == 40
    assert all(b - a <= 4 for a, b in itertools.pairwise(handed))


def expected(arrived: list[tuple[int | None, ev.Event]], account_id: int) -> list[ev.Event]:
    """What the account must see, in order: its own events; the MNQ quotes that arrive
    while it holds a position; at a new position, the latest quote first if it lacks it."""
    want: list[ev.Event] = []
    latest = had = None  # the last MNQ quote; the last one the account was handed
    exposed = False
    for who, event in arrived:
        if isinstance(event, ev.QuoteEvent):
            if event.contract_id == MNQ:
                latest = event
                if exposed:
                    want.append(event)
                    had = event
        elif who == account_id:
            if isinstance(event, ev.PositionEvent) and event.size and not exposed:
                if latest is not None and had is not latest:
                    want.append(latest)
                    had = latest
                exposed = True
            elif isinstance(event, ev.PositionEvent) and not event.size:
                exposed = False
            want.append(event)
    return want


async def test_each_account_sees_its_own_events_in_arrival_order_under_interleaving() -> None:
    routes, log = routes_of(30, quote_slice=3)
    rng = random.Random(14)
    arrived: list[tuple[int | None, ev.Event]] = []  # (account, or None for a quote; event)
    for n in range(600):
        account_id, kind = rng.randint(1, 30), rng.random()
        event: ev.Event = quote(n, rng.choice((MNQ, ES)))
        if kind > 0.8:
            event = position(account_id, account_id, rng.choice((0, 1)))
        elif kind > 0.5:
            event = fill(n, account_id)
        arrived.append((None if isinstance(event, ev.QuoteEvent) else account_id, event))
        routes.deliver(event)
        if rng.random() < 0.3:
            await asyncio.sleep(0)  # the fan-out runs on: a slice per turn
    await fanned(routes)
    for account_id in range(1, 31):
        assert of(log, account_id) == expected(arrived, account_id), account_id


async def test_events_of_unsupervised_accounts_are_still_counted_unrouted() -> None:
    routes, log = routes_of(3, quote_slice=1)
    routes.deliver(position(1, 1))
    routes.deliver(position(2, 2))
    routes.deliver(quote(1))  # fanned out (two followers, slice of one)
    assert not routes.deliver(fill(1, 99))
    assert not routes.deliver(position(3, 99))
    assert routes.unrouted == 2
    assert not routes.deliver(quote(1, ES))  # a quote nobody follows is not "unrouted"
    assert routes.unrouted == 2
    await fanned(routes)
    assert [who for who, _ in log if who not in (1, 2)] == []
    await routes.close()
