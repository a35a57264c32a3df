"""The account model end to end through the real SDK (issue 12, item 1): the gateway's
balance updates reach account.balance, account.net adds the open P&L of its quotes, and a
rule on account.to_mll flattens and locks out at the buffer above the trailing MLL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import RULES, StartDaemon, catalogue_child, wait_until

from rmdsl.engine.persistence import Outcome

pytestmark = pytest.mark.e2e
D = Decimal

MLL_RULES = """\
params:
  account_size: $50000
  mll_distance: {value: $2000, stricter: lower}
  mll_buffer: $250
rules:
  mll_guard:
    when: account.to_mll <= params.mll_buffer
    do: [flatten, lockout(until: reset)]
    message: "{account.to_mll} above the MLL {account.mll}: flat until the reset"
"""


async def test_the_mll_guard_flattens_at_the_buffer_through_the_sdk(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    live = await start_daemon(catalogue_child(tmp_path, MLL_RULES, RULES))
    gw, engine = live.gw, live.daemon.engine
    assert engine is not None
    acct = engine.ctx.account
    gw.trader_place("ES", "buy", "market", 1)  # at 6000.00; fees 1.40 a half-turn
    gw.trader_place("ES", "sell", "stop", 1, stop_price=5900)
    await wait_until(lambda: acct.balance == D("49998.60"), what="the opening fee's balance")
    gw.set_quote("ES", 5966)  # -34 points: -$1,700 open, $298.60 above the MLL
    await wait_until(lambda: acct.to_mll == D("298.60"), what="to_mll $298.60")
    assert (acct.mll, acct.eod_high, acct.net) == (48000, 50000, D("48298.60"))
    assert not [r for r in live.history() if r.rule_name == "mll_guard"]
    gw.set_quote("ES", 5965)  # -35 points: $248.60 above the MLL
    rec = await live.wait_for_record("mll_guard", outcome=Outcome.OK)
    assert D(rec.values["account.to_mll"]) == D("248.60")
    await wait_until(lambda: gw.position_size("ES") == 0, what="ES flattened")
    assert engine.lockouts.account_locked
    # the close's balance update: net is the gateway's balance again, to the cent
    balance = gw.market.accounts[gw.account_id].balance
    await wait_until(lambda: acct.balance == balance, what="the close's balance")
    assert acct.net == balance and acct.to_mll == balance - D(48000)
