"""Net P&L and the gateway's ES/NQ contract ids, end to end through the real SDK (issue 10,
points 1 and 6).

The simulated gateway reports profitAndLoss gross and the fees of every half-turn apart,
as the real one does; rmdsl's loss limits judge net money. ES and NQ reach rmdsl as
`CON.F.US.EP.*` / `CON.F.US.ENQ.*`, and rules that name ES and NQ still see them.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from e2ekit import RULES, Live, StartDaemon, catalogue_child, wait_until

from rmdsl.engine.persistence import Outcome

pytestmark = pytest.mark.e2e
D = Decimal
ES_ID, NQ_ID = "CON.F.US.EP.Z25", "CON.F.US.ENQ.Z25"


def gateway_net(live: Live) -> tuple[Decimal, Decimal]:
    """(sum of profitAndLoss, sum of fees) over the gateway's own trade tape."""
    tape = [t.payload for t in live.gw.market.ledger.trades]
    gross = sum((D(str(t["profitAndLoss"])) for t in tape if t["profitAndLoss"] is not None), D(0))
    return gross, sum((D(str(t["fees"])) for t in tape), D(0))


async def test_a_loss_limit_fires_on_net_money_through_the_sdk(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """1 ES bought at 6000.00, stopped at 5990.25: gross -$487.50, fees 1.40 on each
    half-turn: net -$490.30, past a -$490 limit that the gross loss (and the closing fill's
    net alone, -$488.90) stays inside."""
    live = await start_daemon(catalogue_child(tmp_path, "params:\n  daily_loss: -$490\n", RULES))
    gw = live.gw
    gw.trader_place("ES", "buy", "market", 1)
    gw.trader_place("ES", "sell", "stop", 1, stop_price=5990.25)
    gw.set_quote("ES", 5990.25)
    rec = await live.wait_for_record("daily_realized_loss", outcome=Outcome.OK)
    assert D(rec.values["day.realized_pnl"]) == D("-490.30")
    engine = live.daemon.engine
    assert engine is not None
    day = engine.ctx.day
    assert (day.realized_pnl, day.gross_pnl, day.fees) == (D("-490.30"), D("-487.50"), D("2.80"))
    gross, fees = gateway_net(live)
    assert (gross, fees) == (D("-487.50"), D("2.80"))  # what the wire said: gross, fees apart
    assert day.realized_pnl == gross - fees
    balance = gw.market.accounts[gw.account_id].balance
    assert balance - D("50000") == day.realized_pnl  # the gateway's balance agrees to the cent


async def test_es_and_nq_arrive_as_ep_and_enq_and_rules_see_es_and_nq(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    rules = (
        "rules:\n"
        "  nq_contracts:\n"
        "    scope: symbol\n"
        '    when: symbol == "NQ" and contracts(symbol) > 1\n'
        "    do: [reduce_position(to: 1)]\n"
        "  nq_open_loss:\n"
        "    scope: position\n"
        '    when: position.symbol == "NQ" and position.unrealized_pnl <= -$200\n'
        "    do: [close_position]\n"
    )
    live = await start_daemon(catalogue_child(tmp_path, rules, RULES))
    gw = live.gw
    engine = live.daemon.engine
    assert engine is not None
    gw.trader_place("ES", "buy", "market", 2)  # the e2e ruleset's es_contracts: at most 1
    es = await live.wait_for_record("es_contracts", outcome=Outcome.OK)
    assert es.target == ES_ID
    await wait_until(lambda: gw.position_size("ES") == 1, what="ES reduced to 1")
    (partial,) = gw.requests.calls("/Position/partialCloseContract")
    assert partial.body["contractId"] == ES_ID
    gw.trader_place("NQ", "buy", "market", 2)
    nq = await live.wait_for_record("nq_contracts", outcome=Outcome.OK)
    assert nq.target == NQ_ID
    await wait_until(lambda: gw.position_size("NQ") == 1, what="NQ reduced to 1")
    assert engine.state.positions[NQ_ID].symbol == "NQ"
    assert engine.state.tick_value("NQ") == D(5)  # from the gateway's contract search
    gw.set_quote("NQ", 20990)  # the quote comes keyed by the ENQ id: 10 points * $20 open loss
    await live.wait_for_record("nq_open_loss", outcome=Outcome.OK)
    await wait_until(lambda: gw.position_size("NQ") == 0, what="NQ closed")
    closes = [c.body["contractId"] for c in gw.requests.calls("/Position/closeContract")]
    assert NQ_ID in closes
