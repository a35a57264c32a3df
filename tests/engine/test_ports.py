"""The engine's parts: enforcement goes only through the EnforcerPort an Engine is given.

A fake enforcer records what the engine asks of it: a flatten (a lockout's own
under its lockout), the step and settle calls, and the retries it says are due,
sent with their cause. It shares the engine's state, lockouts and clock.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from enginekit import MNQ, T0, Harness, at, clock, fill, position, rule, ruleset

from rmdsl.engine.evaluate import Firing
from rmdsl.engine.origin import CAUSE
from rmdsl.engine.persistence import EnforcementRecord, LockoutRecord, TimerRecord
from rmdsl.engine.ports import EnforcerParts, Records, Retries
from rmdsl.engine.timers import Timers
from rmdsl.lang.schema import Trigger
from rmdsl.rules.model import Action

LOSS = rule(
    "daily",
    lambda c: c.day.realized_pnl <= Decimal(-100),
    (Action("flatten"),),
    on=(Trigger.FILL, Trigger.TRADE),
)
LOCK = rule(
    "locked",
    lambda c: c.day.realized_pnl <= Decimal(-100),
    (Action("lockout"),),
    on=(Trigger.FILL, Trigger.TRADE),
)


class FakeEnforcer:
    """An EnforcerPort that sends nothing and records what it was asked."""

    def __init__(self, parts: EnforcerParts, timeout_s: float, retry: Any) -> None:
        self.parts = parts
        self.asked: list[tuple[object, ...]] = []
        self.steps = self.settled = 0
        self.due: dt.datetime | None = None
        self.retried: list[frozenset[str]] = []

    def _record(self, firing: Firing, action: str, target: str) -> EnforcementRecord:
        return EnforcementRecord(firing.ts, 1, firing.rule_id, action, firing.message, {}, target)

    async def call(
        self, firing: Firing, action: str, target: str, send: None, skip: str | None = None
    ) -> EnforcementRecord:
        self.asked.append(("call", firing.rule_id, action, skip))
        return self._record(firing, action, target)

    async def close(
        self, firing: Firing, contract_id: str, action: str, lockout_id: str | None = None
    ) -> EnforcementRecord:
        self.asked.append(("close", firing.rule_id, contract_id))
        return self._record(firing, action, contract_id)

    async def flatten(
        self, firing: Firing, action: str, lock: LockoutRecord | None = None
    ) -> Records:
        self.asked.append(("flatten", firing.rule_id, None if lock is None else lock.id))
        return [self._record(firing, action, "account")]

    def close_sent(self, contract_id: str) -> bool:
        return False

    def settle(self) -> None:
        self.settled += 1

    def begin_step(self) -> None:
        self.steps += 1

    def next_due(self, this_step: bool = True) -> dt.datetime | None:
        return self.due

    def take_due(self, now: dt.datetime) -> Retries | None:
        self.due = None

        async def send() -> Records:
            self.retried.append(CAUSE.get())  # the cause a retried close would carry
            return []

        return Retries(frozenset({"daily"}), send)


async def fake_harness(*rules: Any) -> tuple[Harness, FakeEnforcer]:
    h = await Harness(ruleset(*rules), enforcer=FakeEnforcer).start()
    fake = h.engine.enforcer
    assert isinstance(fake, FakeEnforcer)
    return h, fake


async def test_an_engine_enforces_only_through_the_enforcer_it_is_given() -> None:
    h, fake = await fake_harness(LOSS)
    await h.feed(position(at(1), 1), fill(1, at(2), -100))
    assert fake.asked == [("flatten", "daily", None)]
    assert h.broker.calls == []  # nothing reached the broker but through the port
    assert fake.steps == fake.settled == 2  # each event: a step begun, goals settled
    assert fake.parts.state is h.engine.state and fake.parts.lockouts is h.engine.lockouts


async def test_a_lockouts_own_flatten_is_sent_under_its_lockout() -> None:
    h, fake = await fake_harness(LOCK)
    await h.feed(position(at(1), 1), fill(1, at(2), -100))
    (lock_id,) = h.engine.lockouts.active
    assert ("flatten", "locked", lock_id) in fake.asked
    assert ("call", "locked", "lockout", None) in fake.asked  # the lockout's own record


async def test_a_retry_the_port_says_is_due_is_sent_at_its_time_with_its_cause() -> None:
    h, fake = await fake_harness(LOSS)
    fake.due = at(5)
    assert h.engine.next_wakeup() == at(5)
    await h.feed(clock(at(4)))
    assert fake.retried == []
    await h.feed(clock(at(6)))
    assert fake.retried == [frozenset({"daily"})]
    assert h.engine.next_wakeup() != at(5)


async def test_the_enforcers_zone_follows_a_hot_reload() -> None:
    h, fake = await fake_harness(LOSS)
    assert str(fake.parts.zone()) == "America/Chicago"
    utc = ruleset(LOSS, tz=ZoneInfo("UTC"))
    await h.engine.swap_ruleset(utc)
    assert str(fake.parts.zone()) == "UTC"


def test_a_reload_drops_the_timers_of_the_rules_it_removed() -> None:
    timers = Timers()
    for rid in ("kept", "gone", "no_stop_loss_grace"):
        timers.start(1, rid, MNQ, T0, 60_000)
    assert timers.drop_rules({"kept", "no_stop_loss_grace"}) == [f"gone|{MNQ}"]
    assert set(timers.running) == {f"kept|{MNQ}", f"no_stop_loss_grace|{MNQ}"}
    assert isinstance(timers.running[f"kept|{MNQ}"], TimerRecord)
