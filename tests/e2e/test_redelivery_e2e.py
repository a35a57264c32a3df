"""Undocumented user-hub behaviours, through the real SDK: a fill's Trade pushed again (as a
reconnect might), then voided (a Trade with `voided: true`, then as a delete, action 2).
docs/simgateway.md ("Behaviours and their sources") marks both unknown; rmdsl's day counts a
fill once, and not at all once voided."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from e2ekit import RULES, StartDaemon, wait_until

pytestmark = pytest.mark.e2e
D = Decimal


@pytest.mark.parametrize("void_action", [1, 2])
async def test_a_trade_pushed_twice_counts_once_and_a_void_takes_it_out(
    start_daemon: StartDaemon, void_action: int
) -> None:
    live = await start_daemon(RULES)
    gw = live.gw
    engine = live.daemon.engine
    assert engine is not None
    gw.trader_place("MNQ", "buy", "market", 1)
    gw.set_quote("MNQ", "21010.00")
    gw.trader_place("MNQ", "sell", "market", 1)  # +10 points: gross $20.00, fees 2 x $0.37
    await wait_until(lambda: engine.ctx.day.trades == 1, what="the closing fill counted")
    counted = (engine.ctx.day.realized_pnl, engine.ctx.day.gross_pnl, engine.ctx.day.fees)
    assert counted == (D("19.26"), D("20.00"), D("0.74"))
    closing: dict[str, Any] = dict(gw.market.ledger.trades[-1].payload)
    pushed = len(gw.pushes)
    gw.publish_raw("GatewayUserTrade", [{"action": 0, "data": closing}])  # the same fill again
    await gw.flush()
    await wait_until(lambda: engine.queue.depth == 0, what="the queue drained")
    await engine.drain()
    assert len(gw.pushes) == pushed + 1
    day = engine.ctx.day
    assert (day.trades, day.realized_pnl, day.gross_pnl, day.fees) == (1, *counted)
    gw.publish_raw(
        "GatewayUserTrade", [{"action": void_action, "data": {**closing, "voided": True}}]
    )
    await wait_until(lambda: engine.ctx.day.gross_pnl == 0, what="the void counted")
    day = engine.ctx.day
    assert (day.realized_pnl, day.fees) == (D("-0.37"), D("0.37"))  # the opening fill's fees
