"""rmdsl against the simulated gateway behaving as the real one (docs/simgateway.md), through
the real SDK: unique order tags, the live event order of a fill (and shuffled ones), partial
fills and a flip in one order."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import REPO, Live, StartDaemon, TapStore, wait_until, working_orders

from rmdsl.contract.events import OrderType
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.engine import tags as tag_module
from rmdsl.engine.core import Engine
from rmdsl.engine.persistence import Outcome
from rmdsl.engine.tags import is_rmdsl_tag
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset

pytestmark = pytest.mark.e2e

MANAGEMENT = REPO / "rulesets" / "base" / "trade-management.yaml"
PLACE = "/Order/place"
GAP_S = 0.05


def engine_of(live: Live) -> Engine:
    engine = live.daemon.engine
    assert engine is not None
    return engine


async def protected(live: Live, count: int) -> None:
    """Until `count` orders were placed and a stop and a target work on MNQ."""
    gw = live.gw

    def kinds() -> set[OrderType]:
        return {o.type for o in working_orders(gw, "MNQ")}

    await wait_until(lambda: len(gw.requests.calls(PLACE)) >= count, what=f"{count} orders")
    await wait_until(lambda: kinds() == {OrderType.STOP, OrderType.LIMIT}, what="stop + target")


async def settled(live: Live) -> None:
    """The daemon processed what the gateway sent and its enforcement tasks ended."""
    await live.gw.flush()
    engine = engine_of(live)
    await wait_until(lambda: engine.queue.depth == 0, what="the queue drained")
    await engine.drain()


async def test_every_protective_order_has_a_tag_of_its_own(start_daemon: StartDaemon) -> None:
    """The second stop of the account's life is accepted: the gateway rejects a reused tag."""
    live = await start_daemon(MANAGEMENT)
    gw = live.gw
    for round_trip in (1, 2):
        gw.trader_place("MNQ", "buy", "market", 1)
        await protected(live, 2 * round_trip)
        gw.trader_close("MNQ")  # the stop and the target keep working: the trader cancels them
        for order in working_orders(gw, "MNQ"):
            gw.trader_cancel(order.id)
        await wait_until(lambda: not engine_of(live).state.positions, what="flat in rmdsl")
    await settled(live)
    tags = [r.body["customTag"] for r in gw.requests.calls(PLACE)]
    assert len(tags) == 4 and len(set(tags)) == 4 and all(is_rmdsl_tag(t) for t in tags)
    attached = [r for r in live.history() if r.action.startswith(("attach_stop", "attach_target"))]
    assert [r.outcome for r in attached] == [Outcome.OK] * 4


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
async def test_a_stop_fill_leaves_no_protective_order_behind(
    start_daemon: StartDaemon, seed: int | None
) -> None:
    """The stop rmdsl attached fills; whatever the order of the fill's events (None: the live
    order, Order first), nothing is attached to the position the fill closed. The user events
    come 50 ms apart, as separate messages do live: rmdsl acts on each before the next."""
    live = await start_daemon(MANAGEMENT, gateway={"shuffle_seed": seed, "user_push_gap_s": GAP_S})
    gw = live.gw
    gw.trader_place("MNQ", "buy", "market", 1)  # 21000.00: stop 20997.50, target 21005.00
    await protected(live, 2)
    await wait_until(lambda: bool(engine_of(live).state.orders), what="rmdsl sees its orders")
    gw.set_quote("MNQ", "20997.00")  # the stop fills
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="the stop filled")
    await wait_until(lambda: not engine_of(live).state.positions, what="flat in rmdsl")
    await settled(live)
    assert len(gw.requests.calls(PLACE)) == 2  # the stop and the target, nothing after
    assert [o.type for o in working_orders(gw, "MNQ")] == [OrderType.LIMIT]  # the target


@pytest.mark.parametrize(("seed", "partial_status"), [(None, 1), (7, 6)])
async def test_partial_fills_and_a_flip_through_the_sdk(
    start_daemon: StartDaemon, tmp_path: Path, seed: int | None, partial_status: int
) -> None:
    """fillVolume steps, one trade per partial fill, a reversal in one order: rmdsl's position,
    P&L and trade count are the gateway's (in the live event order and a shuffled one)."""
    path = tmp_path / "fills.yaml"
    path.write_text(
        "rmdsl: 1\nname: fills\nrules:\n  huge:\n    scope: trade\n"
        "    when: trade.size > 100\n    do: [alert]\n",
        encoding="utf-8",
    )
    live = await start_daemon(
        path, gateway={"shuffle_seed": seed, "partial_fill_status": partial_status}
    )
    gw, state = live.gw, engine_of(live).state
    gw.split_next_fill(1, 1, 1)
    gw.trader_place("MNQ", "buy", "market", 3)  # three fills of 1 at 21000.00
    await wait_until(lambda: state.ctx.positions.contracts == 3, what="long 3 in rmdsl")
    gw.set_quote("MNQ", "21010.00")
    gw.split_next_fill(2, 3)
    gw.trader_place("MNQ", "sell", "market", 5)  # closes 2, then closes 1 and opens short 2
    await wait_until(lambda: state.ctx.positions.net_contracts == -2, what="short 2 in rmdsl")
    await settled(live)
    fills = [r.payload for r in gw.market.ledger.trades]
    assert [f["size"] for f in fills] == [1, 1, 1, 2, 3]
    [pos] = state.positions.values()
    assert (pos.long, pos.size, pos.avg_price) == (False, 2, Decimal("21010.00"))
    day = state.ctx.day
    assert day.trades == 2  # the two closing fills
    gross = Decimal("60")  # (21010 - 21000) * 3 contracts closed * $2 a point
    fees = Decimal("0.37") * 8  # every fill pays: 3 opening contracts, then 2 + 3
    balance = gw.market.accounts[gw.account_id].balance
    assert balance == Decimal("50000") + gross - fees  # the gateway's money
    # net P&L (issue 10 point 1): gross less every fill's fees, the balance's change
    assert (day.realized_pnl, day.gross_pnl, day.fees) == (gross - fees, gross, fees)


async def test_own_orders_are_known_after_a_restart_and_new_tags_stay_unique(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon attaches a stop and a target and stops; the next one knows them as rmdsl's from
    the snapshot (their tags), places nothing more for that position, and the tags it gives
    the next position's orders were never used before on the account (all four accepted)."""
    path = MANAGEMENT
    async with SimAccount(load_ruleset(path)) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        gw = sim.gw

        def new_daemon() -> Daemon:
            store = TapStore(tmp_path / "s.db")
            return Daemon(path, sim.broker(), store, CollectingNotifier(), clock=sim.now)

        first = new_daemon()
        await first.start()
        try:
            gw.trader_place("MNQ", "buy", "market", 1)
            await wait_until(lambda: len(working_orders(gw, "MNQ")) == 2, what="stop + target")
        finally:
            await first.stop()
        monkeypatch.setattr(tag_module, "_counter", itertools.count(1))  # a new process counts anew
        second = new_daemon()
        await second.start()
        try:
            engine = second.engine
            assert engine is not None
            await wait_until(lambda: len(engine.state.orders) == 2, what="the snapshot's orders")
            assert all(o.by_rmdsl for o in engine.state.orders.values())
            gw.trader_close("MNQ")
            for order in working_orders(gw, "MNQ"):
                gw.trader_cancel(order.id)
            await wait_until(lambda: not engine.state.positions, what="flat in rmdsl")
            gw.trader_place("MNQ", "buy", "market", 1)
            await wait_until(lambda: len(gw.requests.calls(PLACE)) >= 4, what="4 orders placed")
            await wait_until(lambda: len(working_orders(gw, "MNQ")) == 2, what="stop + target")
        finally:
            await second.stop()
        tags = [r.body["customTag"] for r in gw.requests.calls(PLACE)]
        assert len(tags) == 4 and len(set(tags)) == 4 and all(is_rmdsl_tag(t) for t in tags)
        assert {o.custom_tag for o in working_orders(gw, "MNQ")} == set(tags[2:])
