"""Enforcement goals: retried on the virtual clock until the state shows them reached."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from enginekit import ES, MNQ, Harness, at, clock, fill, order, position, rule, ruleset

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import AccountEvent, Event, Side
from rmdsl.enforce.recording_broker import BrokerCall, RecordingBroker
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.errors import BrokerError
from rmdsl.lang.schema import Scope, Trigger, UntilKind
from rmdsl.rules.model import Action, Ruleset

KINDS = ("broker-error", "timeout", "error-code")
DEADLINE = "enforcement target not reached"
POS_TRADE = (Trigger.TRADE,)


class FlakyBroker(RecordingBroker):
    """Fails the first `fails[method]` calls of a method (each call recorded), then works.

    `kind`: a BrokerError, a call that never answers (the enforcer's timeout), or the
    gateway's `success: false` answer with an error code.
    """

    def __init__(self, fails: dict[str, int], kind: str = "broker-error", simulate: bool = True):
        super().__init__(simulate=simulate)
        self.left = dict(fails)
        self.kind = kind

    async def _flake(self, method: str, *args: object) -> bool:
        if self.left.get(method, 0) <= 0:
            return False
        self.left[method] -= 1
        self.calls.append(BrokerCall(self._now(), method, args))
        if self.kind == "timeout":
            await asyncio.Event().wait()
        if self.kind == "error-code":
            raise BrokerError(f"{method}: Injected failure (errorCode 7)", code=7)
        if self.kind == "not-found":
            raise BrokerError(f"{method}: no position (errorCode 2)", code=2)
        raise BrokerError(f"{method}: connection reset")

    async def close_position(self, contract_id: str) -> None:
        if not await self._flake("close_position", contract_id):
            await super().close_position(contract_id)

    async def partial_close(self, contract_id: str, size: int) -> None:
        if not await self._flake("partial_close", contract_id, size):
            await super().partial_close(contract_id, size)

    async def cancel_order(self, order_id: int) -> None:
        if not await self._flake("cancel_order", order_id):
            await super().cancel_order(order_id)


async def flaky(rs: Ruleset, broker: FlakyBroker, **kw: Any) -> Harness:
    h = Harness(rs, timeout_s=0.01, **kw)
    broker.state = h.engine.state
    h.broker = h.engine.broker = h.engine.enforcer.broker = broker
    return await h.start()


async def wake_until(h: Harness, seconds: float) -> None:
    """What the daemon does: a clock event at each next due instant, up to at(seconds)."""
    while (due := h.engine.next_wakeup()) is not None and due <= at(seconds):
        await h.feed(clock(due))
    await h.feed(clock(at(seconds)))


def attempts(records: list[EnforcementRecord]) -> list[tuple[str, str | None]]:
    return [(str(r.outcome), r.values.get("attempt")) for r in records]


def titles(h: Harness) -> list[str]:
    return [a.title for a in h.notifier.alerts]


GRACE_1S = ruleset(grace_ms=1000)
REDUCE = ruleset(
    rule(
        "big",
        lambda c: c.positions.contracts > 1,
        (Action("reduce_position", {"to": 1}),),
        scope=Scope.POSITION,
        on=(Trigger.POSITION,),
    )
)
CANCEL = ruleset(
    rule(
        "no_big_orders",
        lambda c: c.order is not None and c.order.size > 2,
        (Action("cancel_orders"),),
        scope=Scope.ORDER,
        on=(Trigger.ORDER,),
    )
)
LOSS = rule("loss", lambda c: c.day.realized_pnl < 0, (Action("flatten"),), on=(Trigger.TRADE,))
LOCK = rule(
    "lk",
    lambda c: c.day.losses >= 1,
    (Action("lockout", {"until": UntilKind.RESET}),),
    on=(Trigger.TRADE,),
)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_failed_close_is_retried_until_the_position_is_flat(kind: str) -> None:
    h = await flaky(GRACE_1S, FlakyBroker({"close_position": 2}, kind))
    await h.feed(position(at(0), 1))
    await wake_until(h, 10)
    assert MNQ not in h.engine.state.positions
    assert h.calls() == ["close_position"] * 3
    assert attempts(h.records) == [("failed", None), ("failed", "2"), ("ok", "3")]
    assert h.store.enforcements == h.records  # every attempt in enforcement_history
    first, second, _ = h.records
    assert second.timestamp - first.timestamp <= dt.timedelta(milliseconds=250)
    # reached before the deadline: no deadline alert, and the end of the failure is told
    assert titles(h) == ["enforcement failed", "enforcement confirmed"]
    assert not len(h.engine.enforcer.goals) and h.engine.next_wakeup() != at(10)
    await wake_until(h, 60)
    assert len(h.broker.calls) == 3  # confirmed: never sent again


@pytest.mark.parametrize("kind", KINDS)
async def test_a_failed_partial_close_becomes_a_close(kind: str) -> None:
    h = await flaky(REDUCE, FlakyBroker({"partial_close": 1}, kind))
    await h.feed(position(at(0), 3))
    await wake_until(h, 10)
    assert [c.describe() for c in h.broker.calls] == [
        f"partial_close({MNQ}, 2)",
        f"close_position({MNQ})",
    ]
    assert MNQ not in h.engine.state.positions
    assert [r.action for r in h.records] == [
        "reduce_position(to=1)",
        "close_position (escalated from reduce_position(to=1))",
    ]
    assert attempts(h.records) == [("failed", None), ("ok", "2")]


async def test_a_partial_close_that_went_through_is_not_escalated() -> None:
    """A timed-out partial close that the gateway executed anyway: the state shows the
    position reduced, so the escalated close is never sent."""
    h = await flaky(REDUCE, FlakyBroker({"partial_close": 1}, "timeout"))
    await h.feed(position(at(0), 3))
    await h.feed(position(at(0.1), 1))  # the gateway reports the reduce after all
    await wake_until(h, 10)
    assert h.calls() == ["partial_close"]
    assert h.engine.state.positions[MNQ].size == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_failed_cancel_is_retried_until_the_order_is_gone(kind: str) -> None:
    h = await flaky(CANCEL, FlakyBroker({"cancel_order": 2}, kind))
    await h.feed(order(2, at(0), size=3))
    await wake_until(h, 10)
    assert h.calls() == ["cancel_order"] * 3
    assert not h.engine.state.orders
    assert attempts(h.records) == [("failed", None), ("failed", "2"), ("ok", "3")]


@pytest.mark.parametrize("kind", KINDS)
async def test_each_leg_of_a_flatten_is_retried(kind: str) -> None:
    broker = FlakyBroker({"close_position": 1, "cancel_order": 1}, kind)
    h = await flaky(ruleset(LOSS), broker)
    await h.feed(position(at(0), 1), position(at(0), 1, contract=ES, pid=2), order(7, at(0)))
    await h.feed(fill(1, at(1), -10, contract="CON.F.US.MYM.H26", side=Side.SELL))
    await wake_until(h, 10)
    st = h.engine.state
    assert not st.positions and not st.orders
    assert sorted(h.calls()) == ["cancel_order"] * 2 + ["close_position"] * 3
    assert [str(r.outcome) for r in h.store.enforcements].count("failed") == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_lockout_flatten_is_retried_while_the_lockout_stands(kind: str) -> None:
    h = await flaky(ruleset(LOCK), FlakyBroker({"close_position": 2}, kind))
    await h.feed(position(at(0), 1), fill(1, at(1), -5, contract=ES))
    await wake_until(h, 10)
    assert not h.engine.state.positions
    assert h.calls() == ["close_position"] * 3
    assert h.engine.lockouts.account_locked  # the failures set nothing, the rule did


async def test_a_lockout_flatten_stops_when_the_lockout_ends() -> None:
    """The breach no longer stands: a cooldown's flatten is not retried past its end."""
    cool = rule(
        "cool", lambda c: c.day.losses >= 1, (Action("lockout", {"until": 3000}),), on=POS_TRADE
    )
    h = await flaky(ruleset(cool, grace_ms=600_000), FlakyBroker({"close_position": 1000}))
    await h.feed(position(at(0), 1), fill(1, at(1), -5, contract=ES))
    await wake_until(h, 3.9)
    sent_during = len(h.broker.calls)
    assert sent_during >= 4 and h.engine.lockouts.active  # retried while the cooldown runs
    await wake_until(h, 30)
    assert not h.engine.lockouts.active and not len(h.engine.enforcer.goals)
    assert len(h.broker.calls) == sent_during  # lifted at 4 s: nothing sent after it
    assert MNQ in h.engine.state.positions  # allowed again once the cooldown is over


async def test_a_failed_close_under_an_account_lockout_becomes_a_flatten() -> None:
    """A lockout restored at start (exposure not policed yet): the grace close of MNQ fails,
    so its retry flattens the account: ES and the working order get goals of their own."""
    h = await flaky(GRACE_1S, FlakyBroker({"close_position": 1}))
    eng = h.engine
    await h.feed(position(at(0), 1), position(at(0.5), 1, contract=ES, pid=2))
    await h.feed(order(7, at(0.5), contract=ES))
    h.engine.lockouts.add(
        account_id=1,
        rule_id="lk",
        symbol=None,
        until=UntilKind.RESET,
        now=eng.state.now,
        calendar=eng.calendar,
    )
    await wake_until(h, 1.05)  # MNQ has no stop: its grace close (ES has a stop, order 7)
    assert h.calls() == ["close_position"]
    await wake_until(h, 10)
    st = eng.state
    assert not st.positions and not st.orders
    escalated = [r for r in h.records if r.action.startswith("flatten (escalated")]
    assert sorted(r.target for r in escalated) == [ES, "order:7"]


async def test_the_deadline_alert_is_raised_once_then_the_pace_slows() -> None:
    broker = FlakyBroker({"close_position": 1000})
    h = await flaky(GRACE_1S, broker)
    await h.feed(position(at(0), 1))
    await wake_until(h, 31)
    assert titles(h).count(DEADLINE) == 1 and titles(h).count("enforcement failed") == 1
    sent = [c.ts for c in h.broker.calls]
    early = [b - a for a, b in itertools.pairwise(sent) if b <= at(6)]
    late = [b - a for a, b in itertools.pairwise(sent) if a >= at(6)]
    assert early[0] <= dt.timedelta(milliseconds=250)
    assert all(x <= dt.timedelta(seconds=2) for x in early)  # backoff capped
    assert late and all(dt.timedelta(seconds=5) <= x <= dt.timedelta(seconds=10) for x in late)
    assert len(h.store.enforcements) == len(sent)  # every attempt recorded
    broker.left["close_position"] = 0
    await wake_until(h, 45)
    assert MNQ not in h.engine.state.positions
    assert titles(h).count(DEADLINE) == 1


async def test_an_accepted_close_not_confirmed_is_sent_again_until_the_state_shows_it() -> None:
    h = await flaky(GRACE_1S, FlakyBroker({}, simulate=False))  # accepted, no events
    await h.feed(position(at(0), 1))
    await wake_until(h, 2.1)  # sent at 1 s, unconfirmed at 2 s: sent again
    assert h.calls() == ["close_position"] * 2
    assert attempts(h.records) == [("ok", None), ("ok", "2")]
    await h.feed(position(at(2.5), 0))  # the broker's event confirms it
    await wake_until(h, 30)
    assert h.calls() == ["close_position"] * 2


async def test_position_not_found_is_already_done_not_a_failure() -> None:
    h = await flaky(GRACE_1S, FlakyBroker({"close_position": 1}, "not-found", simulate=False))
    await h.feed(position(at(0), 1))
    await wake_until(h, 5.9)
    (rec,) = h.records
    assert rec.outcome == "skipped" and "already flat" in (rec.error or "")
    assert titles(h) == []  # not a failure: no alert
    assert h.calls() == ["close_position"]  # no fast retry of what the broker says is done
    await h.feed(position(at(5.95), 0))  # the state confirms it
    await wake_until(h, 30)
    assert h.calls() == ["close_position"]


async def test_a_re_entry_is_not_taken_for_the_position_being_closed() -> None:
    h = await flaky(GRACE_1S, FlakyBroker({}, simulate=False))
    await h.feed(position(at(0), 1))
    await wake_until(h, 1.2)
    assert h.calls() == ["close_position"]
    events: list[Event] = [position(at(1.3), 0), position(at(1.4), 1, pid=9)]
    await h.feed(*events)  # flat, then a new position in the same contract
    await wake_until(h, 2.3)  # the old goal is met: no close of the new position by it
    assert h.calls() == ["close_position"]
    assert h.engine.state.positions[MNQ].id == 9


async def test_no_retry_is_due_before_the_first_attempt_failed() -> None:
    h = await flaky(GRACE_1S, FlakyBroker({"close_position": 1}))
    await h.feed(position(at(0), 1))
    assert h.engine.next_wakeup() == at(1)  # the grace timer
    await h.feed(clock(at(1)))
    due = h.engine.next_wakeup()
    assert due is not None and at(1.2) <= due <= at(1.25)


async def test_closes_of_one_firing_run_concurrently() -> None:
    """Two positions of one symbol: the second close is sent before the first answers."""
    started: list[str] = []
    both = asyncio.Event()

    class Slow(FlakyBroker):
        async def close_position(self, contract_id: str) -> None:
            started.append(contract_id)
            if len(started) == 2:
                both.set()
            await both.wait()  # sequential closes would wait here until the timeout
            await super().close_position(contract_id)

    rs = ruleset(
        rule(
            "sym",
            lambda c: c.positions.contracts >= 2,
            (Action("close_position"),),
            scope=Scope.SYMBOL,
            on=(Trigger.POSITION,),
        )
    )
    h = await flaky(rs, Slow({}))
    h.engine.enforcer.timeout_s = 1.0
    other = "CON.F.US.MNQ.M26"
    await h.feed(position(at(0), 1), position(at(0.1), 1, contract=other, pid=2))
    assert sorted(started) == sorted([MNQ, other])
    assert [str(r.outcome) for r in h.records] == ["ok", "ok"]


class LostEventsBroker(FlakyBroker):
    """Accepts every call and sends no event; its REST snapshot shows `held` of MNQ."""

    def __init__(self, held: int | None) -> None:
        super().__init__({}, simulate=False)
        self.held = held  # None: the snapshot fails

    async def snapshot(self) -> Snapshot:
        await super().snapshot()
        if self.held is None:
            raise BrokerError("/Position/searchOpen: HTTP 500")
        account = AccountEvent(1, "sim", Decimal(50000), True, self._now())
        held = (position(self._now(), self.held),) if self.held else ()
        return Snapshot(account, held, (), ())


def described(h: Harness) -> list[str]:
    return [c.describe() for c in h.broker.calls]


async def test_an_unconfirmed_partial_close_that_went_through_is_not_sent_again() -> None:
    """Accepted, its events lost: the broker's positions show it reduced, so the same cut is
    not sent a second time (which would cut below the limit)."""
    h = await flaky(REDUCE, LostEventsBroker(held=1))
    await h.feed(position(at(0), 3))
    await wake_until(h, 4)
    assert described(h)[0] == f"partial_close({MNQ}, 2)"
    assert "partial_close" not in h.calls()[1:] and "snapshot" in h.calls()
    assert attempts(h.records)[:2] == [("ok", None), ("skipped", "2")]
    assert "went through" in (h.records[1].error or "")


async def test_an_unconfirmed_partial_close_is_sent_again_as_the_broker_sees_the_size() -> None:
    h = await flaky(REDUCE, LostEventsBroker(held=2))  # the trader sold one meanwhile
    await h.feed(position(at(0), 3))
    await wake_until(h, 1.5)
    assert described(h) == [f"partial_close({MNQ}, 2)", "snapshot()", f"partial_close({MNQ}, 1)"]


async def test_an_unconfirmed_partial_close_is_not_sent_blind_when_the_snapshot_fails() -> None:
    h = await flaky(REDUCE, LostEventsBroker(held=None))
    await h.feed(position(at(0), 3))
    await wake_until(h, 4)
    assert h.calls().count("partial_close") == 1 and h.calls().count("snapshot") >= 2
    assert all(r.outcome == "skipped" for r in h.records[1:])
    assert "close_position" not in h.calls()  # a failed read is not a failed close
