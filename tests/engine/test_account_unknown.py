"""Before the gateway has reported a balance, account.net and account.to_mll are unknown: a
rule that reads them is a rule error (loud), never a false MLL breach from a balance of 0.
A daemon always starts from the gateway's snapshot, which holds the balance, and so does
`rmdsl test`; only an engine fed events before any snapshot can meet this."""

from __future__ import annotations

from pathlib import Path

from enginekit import Harness, at, quote

from rmdsl.contract.events import AccountEvent
from rmdsl.engine.persistence import Outcome
from rmdsl.pipeline import load_ruleset

RULESET = Path(__file__).resolve().parents[2] / "examples/tests/rulesets/account-model.yaml"


async def test_before_a_balance_the_mll_guard_errs_and_never_acts() -> None:
    h = await Harness(load_ruleset(RULESET)).start()
    records = await h.feed(quote(at(1), 21000))
    assert [(r.rule_name, r.outcome) for r in records] == [("mll_guard", Outcome.ERROR)]
    assert "unknown" in (records[0].error or "")
    assert h.engine.state.ctx.account.mll == 48000  # the params alone give the level


async def test_the_first_balance_makes_them_known() -> None:
    h = await Harness(load_ruleset(RULESET)).start()
    await h.feed(quote(at(1), 21000))
    records = await h.feed(AccountEvent(1, "A", 50000, True, at(2)))
    assert not [r for r in records if r.outcome is Outcome.ERROR]
    assert (h.engine.state.ctx.account.net, h.engine.state.ctx.account.to_mll) == (50000, 2000)
    await h.feed(AccountEvent(1, "A", 48250, True, at(3)))
    assert ("mll_guard", "lockout(until=reset)", "ok") in h.fired()
