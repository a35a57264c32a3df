"""reduce_only(until: ...) end to end through the real SDK on the simulated gateway.

A losing exit sets it; then an entry order the trader places is cancelled at the gateway,
a stop the trader moves stays working, and a market order that adds is reduced back
(docs/decisions.md D16).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import StartDaemon, wait_until

from rmdsl.contract.events import OrderStatus
from rmdsl.engine.persistence import LockoutKind, Outcome

pytestmark = pytest.mark.e2e

RULES = """rmdsl: 1
name: e2e-reduce-only
timezone: America/Chicago
reset: "17:00"
rules:
  loss_reduce_only:
    scope: trade
    when: trade.is_close and not trade.by_rmdsl and trade.pnl < $0
    do: [reduce_only(until: reset)]
    message: "a losing exit: exits only until the reset"
  no_stop_loss_grace:
    grace: 10m
"""


async def test_reduce_only_cancels_an_entry_keeps_a_stop_move_and_undoes_an_add(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    path = tmp_path / "reduce-only.yaml"
    path.write_text(RULES, encoding="utf-8")
    live = await start_daemon(path)
    gw, engine = live.gw, live.daemon.engine
    assert engine is not None
    mnq = gw.market.resolve_contract("MNQ").contract_id
    gw.trader_place("MNQ", "buy", "market", 2)
    stop = gw.trader_place("MNQ", "sell", "stop", 2, stop_price=20000)
    await wait_until(lambda: stop.id in engine.state.orders, what="the engine to see the stop")
    price = engine.state.positions[mnq].avg_price
    gw.set_quote("MNQ", price - 10)
    gw.trader_place("MNQ", "sell", "market", 1)  # -$20 and fees: exits only from here
    await live.wait_for_record("loss_reduce_only", outcome=Outcome.OK)
    assert [r.kind for r in engine.lockouts.active.values()] == [LockoutKind.REDUCE_ONLY]

    entry = gw.trader_place("MNQ", "buy", "limit", 1, limit_price=price - 50)
    await wait_until(lambda: entry.status is OrderStatus.CANCELLED, what="the entry cancelled")
    assert gw.requests.calls("/Order/cancel")

    gw.market.modify_order(stop.account_id, stop.id, stop_price=Decimal(20100))  # a stop move
    await wait_until(
        lambda: engine.state.orders[stop.id].event.stop_price == Decimal(20100),
        what="the engine to see the stop moved",
    )
    gw.trader_place("MNQ", "buy", "market", 2)  # adds to long 3: back to the 1 it had
    await wait_until(lambda: gw.position_size("MNQ") == 1, what="the add reduced back to 1")
    assert gw.requests.calls("/Position/partialCloseContract")
    assert stop.status is OrderStatus.OPEN  # the moved stop was never cancelled
    cancelled = [r.target for r in live.history() if r.action == "cancel_orders"]
    assert cancelled == [f"order:{entry.id}"]
