"""Before a reconcile (at start, after a disconnect) the clock decides nothing new: a
`for:` or grace timer re-checks its rule on the state, which is not the broker's yet, so
it waits for the reconcile; what is already decided (a lockout's end) still runs on time
(docs/decisions.md D18)."""

from __future__ import annotations

import datetime as dt

from enginekit import MNQ, T0, Harness, at, clock, position, rule, ruleset
from test_catchup import snap

from rmdsl.engine.persistence import LockoutRecord, UntilKindRecord
from rmdsl.lang.schema import Scope


async def test_a_grace_timer_due_before_the_reconcile_fires_at_it() -> None:
    h = await Harness(ruleset(grace_ms=60_000)).start()
    h.engine.evaluating = False  # as the daemon starts it: restored, not reconciled
    opened = position(at(1), 1)
    await h.feed(opened)  # unprotected: its grace runs from now
    await h.feed(clock(at(120)))  # past the deadline, on a position the broker may not hold
    assert h.calls() == []
    await h.engine.reconcile(snap(positions=(opened,)))
    assert h.calls() == ["close_position"] and h.engine.evaluating


async def test_a_for_timer_waits_for_the_reconcile_to_recheck_its_rule() -> None:
    held = rule("held", lambda c: c.position.size >= 1, scope=Scope.POSITION, for_ms=30_000)
    h = await Harness(ruleset(held, grace_ms=3_600_000)).start()
    await h.feed(position(at(1), 1))  # evaluating: the timer starts
    assert h.engine.next_wakeup() == at(31)
    h.engine.evaluating = False  # a disconnect
    assert h.engine.next_wakeup() != at(31)  # the daemon's clock is not woken for it
    await h.feed(clock(at(40)))
    assert h.calls() == []
    await h.engine.reconcile(snap())  # the broker says flat: the rule no longer holds
    assert h.calls() == [] and not h.engine.state.positions


async def test_a_lockout_still_ends_on_time_before_the_reconcile() -> None:
    h = await Harness(ruleset()).start()
    h.engine.evaluating = False
    lock = LockoutRecord(
        "lk", 1, None, "cool", at(60), UntilKindRecord.DURATION, T0 - dt.timedelta(minutes=1)
    )
    h.engine.lockouts.restore((lock,))
    await h.feed(clock(at(61)))
    assert not h.engine.lockouts.active
    await h.feed(position(at(62), 1, contract=MNQ))  # opened after it ended: not policed
    assert h.calls() == []
