"""Replay impact: what a firing would have saved or cost against the recorded outcome."""

from __future__ import annotations

from decimal import Decimal

from enginekit import MNQ, T0, D, at, fill, order, position, quote, rule, ruleset

from rmdsl.contract.events import Side
from rmdsl.lang.schema import Scope, Trigger, UntilKind
from rmdsl.rules.model import Action, Ruleset
from rmdsl.tooling.impact import measure
from rmdsl.tooling.offline import OfflineRun


async def replay(rs: Ruleset, events: list[object]) -> tuple[OfflineRun, list[object]]:
    run = await OfflineRun(rs, T0, simulate=False).start()
    for ev in events:
        await run.feed(ev)  # type: ignore[arg-type]
    return run, events


def final_open(run: OfflineRun) -> dict[str, Decimal]:
    return {c: p.view.unrealized_pnl for c, p in run.engine.state.positions.items()}


async def test_a_close_that_would_have_saved_money() -> None:
    cut = rule(
        "cut",
        lambda c: c.position is not None and c.position.unrealized_pnl <= D(-10),
        (Action("close_position"),),
        scope=Scope.POSITION,
        on=(Trigger.QUOTE,),
    )
    events = [
        position(at(0), 1),
        order(1, at(0)),
        quote(at(1), 20995),  # -$10: the rule closes here
        quote(at(2), 20900),
        fill(1, at(3), -50, side=Side.SELL),
        position(at(3), 0),
    ]
    run, evs = await replay(ruleset(cut), events)
    (fired,) = run.fired
    impact = measure([fired], evs, final_open(run), [])  # type: ignore[arg-type]
    assert impact is not None
    assert (impact.at_enforcement, impact.recorded, impact.saved) == (D(-10), D(-50), D(40))
    assert impact.contracts == (MNQ,)


async def test_a_lockout_counts_the_trades_it_would_have_prevented() -> None:
    lock = rule(
        "lk",
        lambda c: c.day.realized_pnl <= D(-100),
        (Action("lockout", {"until": UntilKind.RESET}),),
        on=(Trigger.FILL, Trigger.TRADE),
    )
    events = [
        fill(1, at(1), -100),  # fires: flat, nothing open
        position(at(2), 1),
        order(1, at(2)),
        fill(2, at(3), -70),  # would not have happened
        position(at(3), 0),
        fill(3, at(4), 30),  # nor this
    ]
    run, evs = await replay(ruleset(lock), events)
    lockout = [f for f in run.fired if f.record.action.startswith("lockout")]
    impact = measure(lockout, evs, final_open(run), list(run.store.lockouts.values()))  # type: ignore[arg-type]
    assert impact is not None and impact.saved == D(40)  # -(-70 + 30)
    police = [f for f in run.fired if "lockout.until" in f.record.values]
    assert police and measure(police[:1], evs, {}, []) is None  # not counted twice  # type: ignore[arg-type]


async def test_alerts_have_no_impact() -> None:
    warn = rule("warn", lambda c: c.day.trades >= 1, (Action("alert"),))
    run, evs = await replay(ruleset(warn), [fill(1, at(1), 5)])
    assert measure(run.fired, evs, {}, []) is None  # type: ignore[arg-type]
