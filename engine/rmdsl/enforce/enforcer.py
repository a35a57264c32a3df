"""Steps -> Broker calls, each timed out, recorded as an EnforcementRecord, retried to the goal.

Failure policy (docs/decisions.md Q13): a BrokerError or a timeout is logged
critically, alerted, recorded with outcome `failed`, and enforcement goes on;
no lockout is ever set because of a failure. A close, partial close or cancel
is a goal (rmdsl.enforce.goals): it is retried on the engine's clock until the
account state shows it reached, escalated when it fails, and alerted once when
its deadline passes. Never two concurrent closes of one position.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from rmdsl.enforce import protect
from rmdsl.enforce.goals import (
    Goal,
    GoalBook,
    RetryPolicy,
    broker_size,
    confirmed_alert,
    deadline_alert,
    key_of,
)
from rmdsl.enforce.outcome import announce, record_of
from rmdsl.engine.entities import Position
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.lockouts import is_pause
from rmdsl.engine.persistence import EnforcementRecord, LockoutRecord, Outcome
from rmdsl.engine.ports import EnforcerParts, Retries
from rmdsl.errors import BrokerError, StoreError

log = logging.getLogger("rmdsl.enforce")

DEFAULT_TIMEOUT_S = 5.0
# the gateway's errorCode for closeContract / partialCloseContract of a position it does not
# hold: the position is already flat, which the broker's events or a snapshot will confirm
POSITION_NOT_FOUND = 2

Send = Callable[[], Awaitable[Any]]


class Enforcer:
    """Talks to the broker for the engine; every call ends as one EnforcementRecord."""

    def __init__(
        self,
        parts: EnforcerParts,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, shared safely
    ) -> None:
        self.broker = parts.broker
        self.store = parts.store
        self.notifier = parts.notifier
        self.metrics = parts.metrics
        self.state = parts.state
        self.lockouts = parts.lockouts  # escalation and "does the breach stand"
        self.timeout_s = timeout_s
        self.goals = GoalBook(retry, seed=parts.state.account_id)
        self.on_schedule = parts.on_schedule  # the daemon's wake-up
        # the engine's clock: the state's time only moves with events, so a retry scheduled
        # from it alone would be late by however long no event came (tests: a fixed start)
        self.clock = parts.clock
        # the ruleset's timezone (the engine's, hot reloads included): alerts and log lines
        # give their times on the clock the trader's limits are written in
        self.zone = parts.zone

    # ---- the single choke point --------------------------------------------------------------
    async def call(
        self, firing: Firing, action: str, target: str, send: Send | None, skip: str | None = None
    ) -> EnforcementRecord:
        """Send one broker call with a timeout (or record a skip / a note); record and alert."""
        record, _exc, _ended = await self._call(firing, action, target, send, skip)
        return record

    async def _call(
        self,
        firing: Firing,
        action: str,
        target: str,
        send: Send | None,
        skip: str | None = None,
        goal: Goal | None = None,
    ) -> tuple[EnforcementRecord, BaseException | None, dt.datetime]:
        """The record (saved), the exception the call raised, and when it returned. A goal's
        attempt is numbered; a close the broker finds nothing to do for is already done."""
        attempt = goal.attempts if goal is not None else 1
        done_code = POSITION_NOT_FOUND if goal is not None and goal.order_id is None else None
        sent_ns = time.monotonic_ns()
        outcome, error, exc = Outcome.OK, None, None
        if skip is not None:
            outcome, error = Outcome.SKIPPED, skip
        elif send is not None:
            outcome, error, exc = await self._send(send)
            if _already_done(exc, done_code):
                outcome = Outcome.SKIPPED
                error = f"the broker holds no such position: already flat ({error})"
        ended, sent = self._now(), sent_ns if send is not None else None
        st = self.state
        record = record_of(
            firing, action, target, (outcome, error), sent, attempt, st.now, st.account_id
        )
        announce(record, attempt, self.zone(), self.notifier, self.metrics, self.lockouts)
        await self.save(record)
        return record, exc, ended

    async def _send(self, send: Send) -> tuple[Outcome, str | None, BaseException | None]:
        try:
            await asyncio.wait_for(send(), self.timeout_s)
        except TimeoutError as exc:
            return Outcome.FAILED, f"timed out after {self.timeout_s:g} s", exc
        except BrokerError as exc:
            return Outcome.FAILED, str(exc) or type(exc).__name__, exc
        except Exception as exc:  # an adapter bug must not stop the engine either
            return Outcome.FAILED, f"{type(exc).__name__}: {exc}", exc
        return Outcome.OK, None, None

    async def save(self, record: EnforcementRecord) -> None:
        try:
            await self.store.record_enforcement(record)
        except StoreError as exc:
            log.critical("could not record enforcement: %s", exc)
            self.notifier.alert("critical", "state store failure", str(exc), {})

    # ---- goals: one attempt, and the retries the engine's clock makes due --------------------
    async def attempt(self, goal: Goal) -> EnforcementRecord:
        """Send the goal's next call (a close, a partial close or a cancel) and schedule the
        check after it; the goal stays open until the account state shows it reached."""
        fresh = None
        if goal.accepted and not goal.closes:  # a partial close sent again: as the broker sees it
            goal.inflight = True
            fresh = await broker_size(self.broker, goal, self.timeout_s)
            goal.inflight = False
            if fresh is None or fresh <= goal.size:
                return await self._recheck_skip(goal, fresh)
        goal.attempts += 1
        goal.inflight = True
        firing = goal.firing
        if goal.attempts > 1:
            firing = dataclasses.replace(firing, ts=max(firing.ts, self.state.now))
        action = goal.action
        if goal.escalated and goal.size > 0:
            action = f"close_position (escalated from {goal.action})"
        try:
            sender = self._sender(goal, fresh)
            record, exc, ended = await self._call(firing, action, goal.target, sender, None, goal)
        finally:
            goal.inflight = False
        failed = record.outcome is Outcome.FAILED
        goal.accepted = record.outcome is Outcome.OK
        if failed and goal.order_id is None:
            goal.escalated = goal.size > 0  # a partial close that failed becomes a close
            goal.flatten = self.lockouts.account_locked
        # scheduled from when the call returned, not from when its record was committed
        done = _already_done(exc, POSITION_NOT_FOUND if goal.order_id is None else None)
        self.goals.after(goal, ended, not failed, done=done)
        self.on_schedule()
        return record

    async def _recheck_skip(self, goal: Goal, fresh: int | None) -> EnforcementRecord:
        """The broker's positions say the partial close went through (or could not be read):
        nothing is sent; a failed read is tried again soon, a reached size at the slow pace."""
        goal.attempts += 1
        firing = dataclasses.replace(goal.firing, ts=max(goal.firing.ts, self.state.now))
        why = (
            "the broker's positions could not be read: not sent again blind"
            if fresh is None
            else f"the broker shows the position at {fresh}: the accepted partial close went "
            "through (its events did not come)"
        )
        record, _exc, ended = await self._call(firing, goal.action, goal.target, None, why, goal)
        self.goals.after(goal, ended, False, done=fresh is not None)
        self.on_schedule()
        return record

    def _now(self) -> dt.datetime:
        return max(self.state.now, self.clock())

    def _sender(self, goal: Goal, fresh: int | None = None) -> Send:
        cid = goal.contract_id
        if goal.order_id is not None:
            oid = goal.order_id
            return lambda: self.broker.cancel_order(oid)
        pos = self.state.positions.get(cid)
        if goal.closes or pos is None:
            return lambda: self.broker.close_position(cid)
        # from the broker's size when read, else the state's now (the trader may have changed it)
        cut = (pos.size if fresh is None else fresh) - goal.size
        return lambda: self.broker.partial_close(cid, cut)

    def settle(self) -> None:
        """Forget the goals the state shows reached (or whose lockout is over)."""
        if len(self.goals):
            for goal in self.goals.settle(self.state, set(self.lockouts.active)):
                log.info("enforcement confirmed: %s %s", goal.action, goal.target)
                if goal.attempts > 1:  # its failure was alerted: so is the end of it
                    self.notifier.alert(*confirmed_alert(goal, self.state.now, self.zone()))

    def next_due(self, this_step: bool = True) -> dt.datetime | None:
        return self.goals.next_due(this_step)

    def begin_step(self) -> None:
        self.goals.step += 1  # what this step schedules is retried in a later one

    def take_due(self, now: dt.datetime) -> Retries | None:
        """The goals due at `now`, taken at once (the engine's clock loop moves on); the ones
        the state shows reached are dropped first, unsent. A retry keeps its cause."""
        self.settle()
        due = self.goals.take_due(now)
        if not due:
            return None
        return Retries(frozenset(g.firing.rule_id for g in due), lambda: self.retry(due, now))

    async def retry(self, due: list[Goal], now: dt.datetime) -> list[EnforcementRecord]:
        """Try the due goals again, concurrently; a goal past its deadline raises its one
        critical alert first, a close that failed under an account lockout flattens."""
        jobs: list[Awaitable[EnforcementRecord | list[EnforcementRecord]]] = []
        for goal in due:
            goal.inflight = False
            if not self.goals.holds(goal) or goal.met(self.state):
                self.goals.drop(goal)
                continue
            if now >= goal.deadline and not goal.alerted:
                goal.alerted = True
                alert = deadline_alert(goal, self.state.now, self.zone())
                log.critical("%s: %s", alert[1], alert[2])
                self.notifier.alert(*alert)
            if goal.flatten:
                goal.flatten = False
                jobs.append(self._escalate(goal))
            jobs.append(self.attempt(goal))
        out: list[EnforcementRecord] = []
        for done in await asyncio.gather(*jobs):
            out += done if isinstance(done, list) else [done]
        return out

    async def _escalate(self, goal: Goal) -> list[EnforcementRecord]:
        """A close failed while the account is locked out: flatten the whole account (what
        already has a goal is being worked on; the rest gets one now)."""
        lock = next(
            (r.id for r in self.lockouts.active.values() if r.symbol is None and not is_pause(r)),
            None,
        )
        if lock is None:
            return []
        st, f = self.state, goal.firing
        action = f"flatten (escalated from {goal.action})"
        jobs = [
            self.close(f, c, action, lock)
            for c, p in st.positions.items()
            if self.goals.of_position(p) is None
        ]
        jobs += [
            self.cancel(f, i, action, lock) for i in st.orders if self.goals.of_order(i) is None
        ]
        return list(await asyncio.gather(*jobs))

    # ---- actions -----------------------------------------------------------------------------
    async def close(
        self, firing: Firing, contract_id: str, action: str, lockout_id: str | None = None
    ) -> EnforcementRecord:
        pos = self.state.positions.get(contract_id)
        if pos is None:
            return await self.call(firing, action, contract_id, None, "no open position")
        goal = self.goals.of_position(pos)
        if goal is not None and goal.inflight:
            return await self.call(firing, action, contract_id, None, "close already in flight")
        if goal is not None and goal.closes:
            return await self.call(firing, action, contract_id, None, "close already sent")
        # a close supersedes a pending reduce: a goal of its own, attempt 1 of this firing
        return await self.attempt(self._position_goal(firing, action, pos, 0, lockout_id))

    def _position_goal(
        self, firing: Firing, action: str, pos: Position, size: int, lockout_id: str | None
    ) -> Goal:
        goal = self.goals.new(firing, action, self.state.now, lockout_id)
        goal.contract_id, goal.position, goal.size = pos.contract_id, key_of(pos), size
        return self.goals.add(goal)

    @property
    def closing(self) -> set[str]:
        """Contract ids with a close or partial close in flight (the latency bench waits)."""
        return {g.contract_id for g in self.goals if g.inflight and g.order_id is None}

    def close_sent(self, contract_id: str) -> bool:
        """A close of the position is in flight or sent and not yet confirmed."""
        pos = self.state.positions.get(contract_id)
        goal = self.goals.of_position(pos) if pos is not None else None
        return goal is not None and goal.closes

    async def reduce(self, firing: Firing, pos: Position, to: int) -> EnforcementRecord:
        label = f"reduce_position(to={to})"
        if pos.size <= to:
            return await self.call(firing, label, pos.contract_id, None, f"size {pos.size}")
        goal = self.goals.of_position(pos)
        if goal is not None and goal.inflight:
            return await self.call(firing, label, pos.contract_id, None, "close in flight")
        if goal is not None and goal.size <= to:
            return await self.call(
                firing, label, pos.contract_id, None, "already being closed or reduced"
            )
        return await self.attempt(self._position_goal(firing, label, pos, to, None))

    async def cancel(
        self, firing: Firing, order_id: int, action: str, lockout_id: str | None = None
    ) -> EnforcementRecord:
        target = f"order:{order_id}"
        if order_id not in self.state.orders:
            return await self.call(firing, action, target, None, "order no longer working")
        goal = self.goals.of_order(order_id)
        if goal is not None:
            return await self.call(firing, action, target, None, "cancel already sent")
        goal = self.goals.new(firing, action, self.state.now, lockout_id)
        goal.order_id = order_id
        return await self.attempt(self.goals.add(goal))

    async def flatten(
        self, firing: Firing, action: str, lock: LockoutRecord | None = None
    ) -> list[EnforcementRecord]:
        """Close every position and cancel every working order, concurrently.

        Already flat: a "skipped" record. Under a lockout (`lock`: its own flatten) only its
        symbol's (a symbol block), each goal standing while the lockout is active, and
        nothing is recorded when flat: the lockout's record already says it was set.
        """
        symbol, lockout_id = (lock.symbol, lock.id) if lock is not None else (None, None)
        st = self.state
        closes = [c for c, p in st.positions.items() if symbol is None or p.symbol == symbol]
        orders = [i for i, o in st.orders.items() if symbol is None or o.symbol == symbol]
        jobs = [self.close(firing, c, action, lockout_id) for c in closes]
        jobs += [self.cancel(firing, i, action, lockout_id) for i in orders]
        if not jobs:
            if lock is not None:
                return []
            return [await self.call(firing, action, "account", None, "already flat")]
        return list(await asyncio.gather(*jobs))

    async def protect(
        self, firing: Firing, pos: Position, action: str, stop: Decimal
    ) -> EnforcementRecord:
        """Place a stop at `stop`, or move the existing one there if that tightens it."""
        return await protect.place_stop(self, firing, pos, action, stop)

    async def target(
        self, firing: Firing, pos: Position, action: str, price: Decimal
    ) -> EnforcementRecord:
        """Place a limit at `price` on the closing side unless one exists."""
        return await protect.place_target(self, firing, pos, action, price)

    def alert(self, firing: Firing) -> None:
        self.notifier.alert(
            firing.severity, f"rule {firing.rule_id}", firing.message, dict(firing.values)
        )


def _already_done(exc: BaseException | None, code: int | None) -> bool:
    """The broker answered that it has already done it ("no such position"): not a failure."""
    return code is not None and isinstance(exc, BrokerError) and exc.code == code
