"""Each TopstepX catalogue rule (docs/rules.md) enforced end to end through the real SDK.

Trader orders and quotes go in through the simulated gateway, the events flow gateway ->
SignalR -> project-x-py -> adapter -> engine, and each test checks that the enforcement
came back to the gateway (its positions, orders, REST log) and into the state db.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from e2ekit import (
    CATALOGUE,
    MANAGED,
    REPO,
    Live,
    StartDaemon,
    catalogue_child,
    stored_enforcements,
    wait_until,
    working_orders,
)

from rmdsl.contract.events import OrderStatus, OrderType
from rmdsl.engine.persistence import EnforcementRecord, Outcome

pytestmark = pytest.mark.e2e
BLOCK_UNKNOWN = REPO / "examples" / "tests" / "rulesets" / "topstep-block-unknown.yaml"
BLOCK_M2K = 'params:\n  blocked_symbols: ["M2K*"]\n'
CLOSE = "/Position/closeContract"
PARTIAL = "/Position/partialCloseContract"


async def enforced(
    live: Live, rule: str, action: str, target: str | None = None
) -> EnforcementRecord:
    """The `ok` record of `rule` doing `action` (to `target`), once it is in the state db."""

    def mine(rec: EnforcementRecord) -> bool:
        return (
            rec.rule_name == rule
            and rec.action.startswith(action)
            and target in (None, rec.target)
            and rec.outcome is Outcome.OK
        )

    try:
        await wait_until(lambda: any(mine(r) for r in live.history()), what=f"{rule} {action}")
    except AssertionError as exc:
        seen = [(r.rule_name, r.action, r.target, r.outcome.value) for r in live.history()]
        raise AssertionError(f"{exc}; recorded so far: {seen}") from None
    stored = [r for r in await stored_enforcements(live) if mine(r)]
    assert stored, f"{rule} {action} is not in the state db's enforcement history"
    return stored[0]


async def flat(live: Live, *symbols: str) -> None:
    await wait_until(
        lambda: not any(live.gw.position_size(s) for s in symbols), what=f"{symbols} flat"
    )


async def opened(live: Live, symbol: str, size: int) -> None:
    """The trader buys `size` at market and the engine has seen the position."""
    live.gw.trader_place(symbol, "buy", "market", size)
    engine = live.daemon.engine
    assert engine is not None
    await wait_until(
        lambda: any(p.symbol == symbol for p in engine.state.positions.values()),
        what=f"the engine to see the {symbol} position",
    )


async def flattened_and_locked(live: Live, rule: str, *symbols: str) -> EnforcementRecord:
    """A `flatten, lockout` rule: the lockout (which covers the flatten: docs/rules.md) is
    recorded for the account and for each position it closed, and the gateway is flat."""
    rec = await enforced(live, rule, "lockout", "account")
    for symbol in symbols:
        await enforced(live, rule, "lockout", live.gw.market.resolve_contract(symbol).contract_id)
    await flat(live, *symbols)
    assert live.gw.requests.calls(CLOSE)
    assert locked_by(live, rule)
    return rec


def locked_by(live: Live, rule: str) -> bool:
    engine = live.daemon.engine
    assert engine is not None
    return any(rec.rule_id == rule for rec in engine.lockouts.active.values())


# -- firm limits (base/topstep-base.yaml) ------------------------------------------------


async def test_max_contracts_reduces_the_newest_position(start_daemon: StartDaemon) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "MES", 3)
    gw.trader_place("MYM", "buy", "market", 3)  # 6 contracts > 5, each symbol within its 3
    await enforced(live, "max_contracts", "reduce_position")
    await wait_until(lambda: gw.position_size("MYM") == 2, what="MYM reduced to 2")
    assert gw.position_size("MES") == 3
    assert gw.requests.calls(PARTIAL)


@pytest.mark.parametrize(
    ("ruleset", "symbol", "size", "left", "rule", "action"),
    [
        (CATALOGUE, "MNQ", 3, 2, "max_contracts_per_instrument", "reduce_position"),
        (CATALOGUE, "MES", 4, 3, "unknown_instrument_limit", "reduce_position"),
        (BLOCK_UNKNOWN, "MES", 1, 0, "unknown_instrument_block", "block_symbol"),
    ],
    ids=["listed", "unknown-default", "unknown-block"],
)
async def test_per_instrument_limits(
    start_daemon: StartDaemon,
    ruleset: Path,
    symbol: str,
    size: int,
    left: int,
    rule: str,
    action: str,
) -> None:
    live = await start_daemon(ruleset)
    gw = live.gw
    gw.trader_place(symbol, "buy", "market", size)
    await enforced(live, rule, action)
    await wait_until(lambda: gw.position_size(symbol) == left, what=f"{symbol} down to {left}")
    assert gw.requests.calls(PARTIAL if left else CLOSE)


async def test_daily_realized_loss_flattens_and_locks_out(start_daemon: StartDaemon) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "MNQ", 1)
    gw.trader_place("ES", "buy", "market", 1)
    gw.trader_place("ES", "sell", "stop", 1, stop_price=5989)
    gw.set_quote("ES", 5989)  # the stop fills: -$550 and fees realized, past -$500
    rec = await flattened_and_locked(live, "daily_realized_loss", "MNQ")
    assert gw.position_size("ES") == 0
    assert rec.values["day.realized_pnl"].startswith("-")


async def test_session_block_closes_a_position_still_open_at_the_close(
    start_daemon: StartDaemon,
) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "MNQ", 1)
    gw.trader_place("MNQ", "sell", "stop", 1, stop_price=20900)  # protected: no grace timer
    clock = live.sim.clock
    local = clock.now().astimezone(live.sim.ruleset.timezone)
    close = local.replace(hour=15, minute=10, second=0, microsecond=0)
    clock.reset(start=close - dt.timedelta(seconds=0.5))  # the session ends half a second on
    await flattened_and_locked(live, "session_block", "MNQ")
    assert not working_orders(gw, "MNQ"), "the flatten cancelled the stop"


async def test_auth_loss_guard_locks_until_the_account_can_trade(
    start_daemon: StartDaemon,
) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "MNQ", 1)
    gw.trader_place("MNQ", "sell", "stop", 1, stop_price=20900)
    gw.set_can_trade(False)
    await flattened_and_locked(live, "auth_loss_guard", "MNQ")
    assert not working_orders(gw, "MNQ"), "the flatten cancelled the stop"
    gw.set_can_trade(True)
    await wait_until(lambda: not locked_by(live, "auth_loss_guard"), what="the lockout lifted")
    closes = len(gw.requests.calls(CLOSE))
    await opened(live, "MNQ", 1)  # trading again: the new position is left alone
    with pytest.raises(AssertionError, match="timed out"):
        await wait_until(lambda: len(gw.requests.calls(CLOSE)) > closes, 0.3, "no close")
    assert gw.position_size("MNQ") == 1


async def test_no_stop_loss_grace_closes_an_unprotected_position(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    ruleset = catalogue_child(tmp_path, "rules:\n  no_stop_loss_grace:\n    grace: 1s\n")
    live = await start_daemon(ruleset)
    live.gw.trader_place("MNQ", "buy", "market", 1)
    await enforced(live, "no_stop_loss_grace", "close_position")
    await flat(live, "MNQ")
    assert live.gw.requests.calls(CLOSE)


# -- discipline (base/discipline.yaml) -------------------------------------------------


async def test_daily_realized_profit_flattens_and_locks_out(start_daemon: StartDaemon) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "MNQ", 1)
    gw.trader_place("ES", "buy", "market", 1)
    gw.trader_place("ES", "sell", "limit", 1, limit_price=6021)
    gw.set_quote("ES", 6021)  # the target fills: +$1050 less fees banked
    await flattened_and_locked(live, "daily_realized_profit", "MNQ")
    assert gw.position_size("ES") == 0


@pytest.mark.parametrize(
    ("price", "rule", "action"),
    [
        # the cut starts the rule's own cooldown, whose flatten closes the position
        (5993, "daily_unrealized_loss", "lockout(until=30m)"),
        (6008, "max_unrealized_profit", "close_position"),
    ],
    ids=["open-loss", "open-profit"],
)
async def test_position_pnl_limits_close_the_position(
    start_daemon: StartDaemon, price: int, rule: str, action: str
) -> None:
    live = await start_daemon(CATALOGUE)
    await opened(live, "ES", 1)
    live.gw.set_quote("ES", price)  # 1 ES at 6000: -$350 / +$400 open
    await enforced(live, rule, action, target="CON.F.US.EP.Z25")
    await flat(live, "ES")
    assert live.gw.requests.calls(CLOSE)


async def test_the_cut_s_fill_is_rmdsl_s_through_the_real_sdk(start_daemon: StartDaemon) -> None:
    """The gateway's Order -> Trade(orderId) after a closeContract marks the fill as rmdsl's:
    in the day's P&L, not a losing trade of the trader's (docs/rules.md, "Whose trades")."""
    live = await start_daemon(CATALOGUE)
    await opened(live, "ES", 1)
    live.gw.set_quote("ES", 5993)
    await flat(live, "ES")
    eng = live.daemon.engine
    assert eng is not None
    await wait_until(lambda: eng.ctx.day.realized_pnl < -300, what="the cut's fill")
    (close,) = [tid for tid, f in eng.state.trades.items() if f[1] is not None]
    assert eng.state.by_rmdsl(close)
    assert (eng.ctx.day.trades, eng.ctx.day.losses) == (0, 0)


async def test_daily_combined_loss_flattens_open_positions(start_daemon: StartDaemon) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "ES", 1)
    await opened(live, "MNQ", 2)
    gw.set_quote("ES", 5995)  # -$250 open, under the position limit of -$300
    gw.set_quote("MNQ", 20935)  # -$260 more: -$510 in all, past the day's -$500
    await enforced(live, "daily_combined_loss", "flatten")
    await flat(live, "ES", "MNQ")
    assert not any(r.rule_name == "daily_unrealized_loss" for r in live.history())


async def test_trade_frequency_pauses_new_orders(start_daemon: StartDaemon) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    for side in ("buy", "sell", "buy", "sell"):  # the 4th fill in a minute is over the 3
        gw.trader_place("MNQ", side, "market", 1)
    await enforced(live, "trade_frequency_minute", "pause")
    order = gw.trader_place("MNQ", "buy", "limit", 1, limit_price=20900)
    await wait_until(lambda: order.status is OrderStatus.CANCELLED, what="the new order cancelled")
    rec = await enforced(live, "trade_frequency_minute", "cancel_orders")
    assert rec.target == f"order:{order.id}"
    assert gw.requests.calls("/Order/cancel")


async def test_cooldown_after_loss_closes_a_position_opened_during_it(
    start_daemon: StartDaemon,
) -> None:
    live = await start_daemon(CATALOGUE)
    gw = live.gw
    await opened(live, "ES", 1)
    gw.set_quote("ES", 5997)
    gw.trader_place("ES", "sell", "market", 1)  # -$150 and fees: the 5m tier
    await enforced(live, "cooldown_after_loss", "lockout(until=5m)", "account")
    assert locked_by(live, "cooldown_after_loss")
    gw.trader_place("MNQ", "buy", "market", 1)
    await enforced(live, "cooldown_after_loss", "close_position")
    await flat(live, "MNQ")
    assert not any(r.rule_name.startswith("cooldown_after_loss_") for r in live.history())


async def test_symbol_blocks_cancels_an_order_in_a_blocked_symbol(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    live = await start_daemon(catalogue_child(tmp_path, BLOCK_M2K))
    gw = live.gw
    order = gw.trader_place("M2K", "buy", "limit", 1, limit_price=2200)
    await enforced(live, "symbol_blocks_orders", "block_symbol", "M2K")
    await wait_until(lambda: order.status is OrderStatus.CANCELLED, what="the M2K order cancelled")
    assert gw.requests.calls("/Order/cancel")
    assert locked_by(live, "symbol_blocks_orders")
    gw.trader_place("M2K", "buy", "market", 1)  # blocked for the day: closed at once
    await enforced(live, "symbol_blocks_orders", "close_position", "CON.F.US.M2K.Z25")
    await flat(live, "M2K")


async def test_symbol_blocks_closes_a_position_once_its_symbol_is_blocked(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """An order in a blocked symbol is caught first (above); the position rule acts on a
    position that was open before its symbol was blocked (by a hot reload here)."""
    path = catalogue_child(tmp_path, BLOCK_M2K.replace("M2K*", "RTY"))
    live = await start_daemon(path, reload=True)
    watcher = live.daemon.watcher
    assert watcher is not None
    await asyncio.wait_for(watcher.ready.wait(), 5)
    await opened(live, "M2K", 1)
    engine = live.daemon.engine
    assert engine is not None
    before = engine.ruleset.digest
    path.write_text(path.read_text().replace("RTY", "M2K*"), encoding="utf-8")
    await wait_until(lambda: engine.ruleset.digest != before, 10, "the reload")
    # a reload applies from the next event on and no event of the position rule's triggers
    # comes without an order first: the reconcile after a reconnect re-evaluates the rules
    await live.gw.drop_connections()
    await enforced(live, "symbol_blocks", "block_symbol")
    await flat(live, "M2K")
    assert live.gw.requests.calls(CLOSE)
    assert locked_by(live, "symbol_blocks")


# -- trade management (base/trade-management.yaml, opt-in) -----------------------------


async def test_trade_management_places_a_stop_and_a_target(start_daemon: StartDaemon) -> None:
    live = await start_daemon(MANAGED)
    gw = live.gw
    gw.trader_place("MNQ", "buy", "market", 1)  # filled at 21000.00, tick 0.25
    await enforced(live, "trade_management_stop", "attach_stop")
    await enforced(live, "trade_management_target", "attach_target")

    def orders() -> dict[OrderType, float | None]:
        return {
            o.type: float(o.stop_price or o.limit_price or 0) for o in working_orders(gw, "MNQ")
        }

    await wait_until(lambda: len(orders()) == 2, what="a stop and a target working")
    assert orders() == {OrderType.STOP: 20997.5, OrderType.LIMIT: 21005.0}
    assert len(gw.requests.calls("/Order/place")) >= 2
    gw.set_quote("MNQ", 21001)  # 4 ticks in profit: the stop to the entry
    await enforced(live, "trade_management_breakeven", "breakeven")
    await wait_until(lambda: orders()[OrderType.STOP] == 21000.0, what="the stop at the entry")
    assert gw.requests.calls("/Order/modify")
