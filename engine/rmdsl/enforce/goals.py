"""Enforcement goals: the account state a broker call is meant to reach, and when to try again.

A goal is "this position flat" (or "reduced to N") or "this order cancelled".
It is met only when the account state shows it, i.e. the broker's own events
or a REST snapshot; an accepted call is not enough. Until then the enforcer
retries on the engine's clock (docs/engine.md, "Enforcement and failures").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from rmdsl import alerttext
from rmdsl.alerttext import Alert
from rmdsl.contract.broker import Broker
from rmdsl.engine.entities import Position
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.state import AccountState


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again. Delays are engine-clock seconds; jitter only lengthens a delay."""

    first_s: float = 0.2  # the first retry, jittered up to 0.25 s
    factor: float = 2.0
    cap_s: float = 1.6
    jitter: float = 0.25  # up to +25 %: two daemons' retries do not march in step
    confirm_s: float = 1.0  # an accepted call not confirmed by then is sent again
    deadline_s: float = 5.0  # not reached by then: one critical alert, then the slow pace
    slow_s: float = 5.0  # the pace after the deadline (5-6.25 s with the jitter)

    def delay(self, attempts: int, late: bool, rng: random.Random) -> dt.timedelta:
        """The wait after the `attempts`-th failed attempt."""
        base = (
            self.slow_s if late else min(self.first_s * self.factor ** (attempts - 1), self.cap_s)
        )
        return dt.timedelta(seconds=base * (1 + self.jitter * rng.random()))


# a position is its contract and its opening: a re-entry after a close is another position
PositionKey = tuple[str, int, dt.datetime]


@dataclass(slots=True, eq=False)
class Goal:
    """One target state and its attempts so far."""

    firing: Firing
    action: str  # the action label recorded with each attempt
    started: dt.datetime
    deadline: dt.datetime
    contract_id: str = ""
    position: PositionKey | None = None
    size: int = 0  # the position at most this size (0: flat)
    order_id: int | None = None
    lockout_id: str | None = None  # the breach stands while this lockout is active
    attempts: int = 0
    escalated: bool = False  # a failed partial close: send a close from now on
    flatten: bool = False  # a failed close under an account lockout: flatten at the next try
    inflight: bool = False
    due: dt.datetime | None = None
    step: int = 0  # the engine step that scheduled `due`
    alerted: bool = False
    # the last call was accepted and the state has not confirmed it yet: before a partial
    # close is sent again the broker's own positions are read (the events may be lost)
    accepted: bool = False

    @property
    def target(self) -> str:
        return f"order:{self.order_id}" if self.order_id is not None else self.contract_id

    @property
    def closes(self) -> bool:
        """The next attempt sends a full close (not a partial close, not a cancel)."""
        return self.order_id is None and (self.size == 0 or self.escalated)

    def met(self, state: AccountState) -> bool:
        if self.order_id is not None:
            return self.order_id not in state.orders
        pos = state.positions.get(self.contract_id)
        return pos is None or key_of(pos) != self.position or pos.size <= self.size


def key_of(pos: Position) -> PositionKey:
    return (pos.contract_id, pos.id, pos.opened_at)


def deadline_alert(goal: Goal, now: dt.datetime, zone: dt.tzinfo) -> Alert:
    """The one critical alert of a goal past its deadline (the retries go on)."""
    what = "cancelled" if goal.order_id is not None else "flat"
    if goal.order_id is None and goal.size and not goal.escalated:
        what = f"reduced to {goal.size}"
    waited = (now - goal.started).total_seconds()
    return (
        "critical",
        "enforcement target not reached",
        f"rule {goal.firing.rule_id}: {goal.target} is still not {what} after "
        f"{waited:g} s and {goal.attempts} attempts "
        f"(at {alerttext.local_time(now, zone)}); still trying. "
        f"Why: {goal.firing.message}",
        {"rule": goal.firing.rule_id, "action": goal.action, "target": goal.target},
    )


def confirmed_alert(goal: Goal, now: dt.datetime, zone: dt.tzinfo) -> Alert:
    """A goal whose failure was alerted is reached: the trader is told that too."""
    f = goal.firing
    return (
        "info",
        "enforcement confirmed",
        f"rule {f.rule_id}: {goal.action} {goal.target} reached after {goal.attempts} "
        f"attempts, at {alerttext.local_time(now, zone)}: {f.message}",
        {"rule": f.rule_id, "action": goal.action, "target": goal.target},
    )


class GoalBook:
    """The open goals of one account, by position or order, and their retry schedule."""

    def __init__(self, policy: RetryPolicy | None, seed: int = 0) -> None:
        self.policy = policy  # None: never retry (an offline replay has no broker to confirm)
        self.rng = random.Random(seed)  # seeded: `rmdsl test` stays deterministic
        self._positions: dict[PositionKey, Goal] = {}
        self._orders: dict[int, Goal] = {}
        # the engine's step count: a goal scheduled during a step is retried in a later one,
        # after the broker's events of that step came in (they confirm most goals)
        self.step = 0

    def __len__(self) -> int:
        return len(self._positions) + len(self._orders)

    def __iter__(self) -> Iterator[Goal]:
        yield from list(self._positions.values())
        yield from list(self._orders.values())

    def of_position(self, pos: Position) -> Goal | None:
        return self._positions.get(key_of(pos))

    def of_order(self, order_id: int) -> Goal | None:
        return self._orders.get(order_id)

    def add(self, goal: Goal) -> Goal:
        if goal.order_id is not None:
            self._orders[goal.order_id] = goal
        elif goal.position is not None:
            self._positions[goal.position] = goal
        return goal

    def new(self, firing: Firing, action: str, now: dt.datetime, lockout_id: str | None) -> Goal:
        deadline = now + dt.timedelta(seconds=self.policy.deadline_s if self.policy else 0)
        return Goal(firing, action, now, deadline, lockout_id=lockout_id)

    def drop(self, goal: Goal) -> None:
        if goal.order_id is not None:
            self._orders.pop(goal.order_id, None)
        elif goal.position is not None:
            self._positions.pop(goal.position, None)

    def holds(self, goal: Goal) -> bool:
        """The goal is still open (an event may have met it while its call was in flight)."""
        if goal.order_id is not None:
            return self._orders.get(goal.order_id) is goal
        return goal.position is not None and self._positions.get(goal.position) is goal

    def settle(self, state: AccountState, active: set[str]) -> list[Goal]:
        """Drop every goal the state shows reached, or whose lockout is over; return them."""
        done = [
            g
            for g in self
            if g.met(state) or (g.lockout_id is not None and g.lockout_id not in active)
        ]
        for goal in done:
            self.drop(goal)
        return done

    # ---- the schedule ----------------------------------------------------------------------
    def next_due(self, this_step: bool = True) -> dt.datetime | None:
        """The earliest retry; `this_step` False leaves out those scheduled in this step."""
        if not self:
            return None  # the hot path: no goal open
        dues = [
            g.due
            for g in self
            if g.due is not None and not g.inflight and (this_step or g.step < self.step)
        ]
        return min(dues, default=None)

    def take_due(self, now: dt.datetime) -> list[Goal]:
        """The goals due at `now` (scheduled before this step), marked in flight so that no
        other step picks them too."""
        out = [
            g
            for g in self
            if g.due is not None and g.due <= now and not g.inflight and g.step < self.step
        ]
        for goal in out:
            goal.due, goal.inflight = None, True
        return out

    def after(self, goal: Goal, now: dt.datetime, accepted: bool, done: bool = False) -> None:
        """Schedule the next check: the confirmation window after an accepted call, the
        backoff after a failure, the slow pace after an answer that says it is already done."""
        policy = self.policy
        if policy is None or not self.holds(goal):
            return
        late = now >= goal.deadline
        if done:
            wait = dt.timedelta(seconds=policy.slow_s)
        elif accepted:
            wait = dt.timedelta(seconds=policy.confirm_s)
        else:
            wait = policy.delay(goal.attempts, late, self.rng)
        due = now + wait
        if not goal.alerted and due > goal.deadline > now:
            due = goal.deadline  # the deadline alert is raised on time
        goal.due, goal.step = due, self.step


async def broker_size(broker: Broker, goal: Goal, timeout_s: float) -> int | None:
    """The size of the goal's position in a fresh REST snapshot (0: the broker holds it no
    more, or holds another position in the contract); None when the snapshot failed.

    Why: an accepted partial close whose events never came may have gone through; sending
    the same cut again from the engine's stale size would cut twice.
    """
    try:
        snap = await asyncio.wait_for(broker.snapshot(), timeout_s)
    except Exception:  # any failure: the size is not known, nothing is sent
        return None
    pid = goal.position[1] if goal.position is not None else None
    return next(
        (
            abs(p.size)
            for p in snap.positions
            if p.contract_id == goal.contract_id and p.id == pid and p.size
        ),
        0,
    )
