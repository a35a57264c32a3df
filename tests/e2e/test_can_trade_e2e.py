"""canTrade false, end to end through the real SDK (docs/broker.md "canTrade false").

No source says whether the real gateway takes closes while an account cannot
trade, so the simulated gateway can do either. Taken: the flatten goes
through. Refused: rmdsl records the failure, alerts, keeps retrying and keeps
running; the position is flat as soon as the gateway takes closes again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2ekit import RULES, StartDaemon, wait_until

from rmdsl.engine.persistence import Outcome

pytestmark = pytest.mark.e2e
CLOSE = "/Position/closeContract"


def cannot_trade_ruleset(tmp_path: Path) -> Path:
    """The e2e ruleset plus: flat whenever the gateway says the account cannot trade."""
    path = tmp_path / "cannot-trade.yaml"
    path.write_text(
        f"rmdsl: 1\nname: e2e-cannot-trade\nextends: {RULES}\nrules:\n"
        "  flat_when_cannot_trade:\n"
        "    when: positions.count > 0 and not account.can_trade\n"
        "    do: [flatten]\n",
        encoding="utf-8",
    )
    return path


async def test_closes_taken_while_cannot_trade(start_daemon: StartDaemon, tmp_path: Path) -> None:
    live = await start_daemon(cannot_trade_ruleset(tmp_path))
    gw = live.gw
    gw.market.closes_when_cannot_trade = True
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: bool(live.daemon.engine and live.daemon.engine.state.positions))
    gw.set_can_trade(False)
    rec = await live.wait_for_record("flat_when_cannot_trade", outcome=Outcome.OK)
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="MNQ flat")
    assert rec.action.startswith("flatten") or rec.action.startswith("close")


async def test_closes_refused_while_cannot_trade_alert_record_retry_never_stop(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    live = await start_daemon(cannot_trade_ruleset(tmp_path))
    gw, daemon = live.gw, live.daemon
    gw.market.closes_when_cannot_trade = False
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: bool(daemon.engine and daemon.engine.state.positions))
    gw.set_can_trade(False)
    failed = await live.wait_for_record("flat_when_cannot_trade", outcome=Outcome.FAILED)
    assert "errorCode 8" in (failed.error or "")  # the account rejected, on closeContract
    assert "enforcement failed" in live.notifier.titles()
    # retried while refused, and the daemon goes on
    await wait_until(lambda: len(gw.requests.calls(CLOSE)) >= 3, what="close retries")
    assert gw.position_size("MNQ") == 1
    assert daemon.engine is not None and daemon.engine.evaluating
    gw.set_can_trade(True)  # the gateway takes closes again: the next retry flattens
    await wait_until(lambda: gw.position_size("MNQ") == 0, what="MNQ flat after the retry")
    await live.wait_for_record("flat_when_cannot_trade", outcome=Outcome.OK)
    # and enforcement still works afterwards
    gw.trader_place("ES", "buy", "market", 3)
    await wait_until(lambda: gw.position_size("ES") == 1, what="ES reduced to 1")
