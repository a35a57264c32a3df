"""The Topstep 50K firm profile (rulesets/topstep/50k.yaml) end to end through the real SDK
on the simulated gateway: an intraday drop of the net balance, open P&L included, to the
Maximum Loss Limit's buffer flattens the account and locks it out until the reset."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest
from e2ekit import REPO, Live, StartDaemon, catalogue_child, wait_until, working_orders

from rmdsl.engine.persistence import Outcome

pytestmark = pytest.mark.e2e
FIFTY_K = REPO / "rulesets" / "topstep" / "50k.yaml"
CLOSE = "/Position/closeContract"


def _locked(live: Live) -> bool:
    engine = live.daemon.engine
    assert engine is not None
    return any(rec.rule_id == "mll_guard" for rec in engine.lockouts.active.values())


def _lockout_of_the_account(live: Live) -> bool:
    return any(
        r.rule_name == "mll_guard"
        and r.action.startswith("lockout")
        and r.target == "account"
        and r.outcome is Outcome.OK
        for r in live.history()
    )


async def test_an_intraday_drop_to_the_mll_buffer_flattens_and_locks_out(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    # MLL $48,000 on a fresh 50K account; a $1,500 buffer puts the guard at a net of $49,500
    ruleset = catalogue_child(tmp_path, "params:\n  mll_buffer: $1500\n", parent=FIFTY_K)
    live = await start_daemon(ruleset)
    gw, engine = live.gw, live.daemon.engine
    assert engine is not None
    account = engine.state.ctx.account
    gw.trader_place("ES", "buy", "market", 1)  # at 6000.00; the fill's $1.40 fee is paid
    gw.trader_place("ES", "sell", "stop", 1, stop_price=5900)  # protected: no grace close
    await wait_until(lambda: account.balance == D("49998.60"), what="the balance after the fee")
    await wait_until(lambda: engine.state.positions, what="the engine to see the ES position")
    gw.set_quote("ES", 5991)  # -$450 open: net $49,548.60, $1,548.60 above the MLL
    await wait_until(lambda: account.net == D("49548.60"), what="the open loss in account.net")
    await asyncio.sleep(0.2)
    assert not _locked(live) and gw.position_size("ES") == 1
    gw.set_quote("ES", 5990)  # -$500 open: $1,498.60 above the MLL, inside the buffer
    await wait_until(lambda: _lockout_of_the_account(live), what="the mll_guard lockout")
    await wait_until(lambda: gw.position_size("ES") == 0, what="ES flat")
    assert gw.requests.calls(CLOSE) and not working_orders(gw, "ES"), "flattened, stop cancelled"
    assert _locked(live)
    [rec] = [r for r in live.history() if r.action.startswith("lockout") and r.target == "account"]
    assert rec.values["account.to_mll"] == "1498.60"
    assert account.mll == 48000  # the MLL did not move intraday
    # locked out until the reset: a new position is closed again
    closes = len(gw.requests.calls(CLOSE))
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: len(gw.requests.calls(CLOSE)) > closes, what="the new MNQ closed")
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="MNQ flat")
