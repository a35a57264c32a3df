"""What the engine needs from its enforcer, declared on the engine's side (docs/engine.md).

The engine and its executor talk to enforcement only through `EnforcerPort`; the
broker calls, their timeouts, records and retries are the implementation's
(rmdsl.enforce.enforcer.Enforcer is the one the daemon runs). An implementation is
built by an `EnforcerFactory` from the engine's own pieces (`EnforcerParts`), so
both sides share one state, one lockout book and one write-behind store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from rmdsl.contract.broker import Broker
from rmdsl.engine.entities import Position
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.lockouts import Lockouts
from rmdsl.engine.persistence import EnforcementRecord, LockoutRecord, StateStore
from rmdsl.engine.state import AccountState
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier

if TYPE_CHECKING:  # the policy is the implementation's; the engine only passes it on
    from rmdsl.enforce.goals import RetryPolicy

Records = list[EnforcementRecord]
Send = Callable[[], Coroutine[Any, Any, Records]]


@dataclass(frozen=True, slots=True)
class Retries:
    """The enforcement goals due now: the rules they enforce (the closes' cause) and the
    coroutine that tries them again."""

    rules: frozenset[str]
    send: Send


@dataclass(frozen=True, slots=True)
class EnforcerParts:
    """The engine's pieces an enforcer works with: shared, never copied."""

    broker: Broker
    store: StateStore  # the engine's write-behind store: records join the step's batch
    notifier: Notifier
    metrics: Metrics
    state: AccountState  # what a goal is checked against
    lockouts: Lockouts  # escalation, and whether a breach still stands
    clock: Callable[[], dt.datetime]  # the engine's clock: a retry is scheduled from it
    zone: Callable[[], dt.tzinfo]  # the ruleset's timezone (follows hot reloads)
    on_schedule: Callable[[], None]  # a retry was scheduled: the daemon's clock wakes up


class EnforcerPort(Protocol):
    """The enforcement calls the engine makes; every one ends as EnforcementRecords."""

    async def call(
        self, firing: Firing, action: str, target: str, send: None, skip: str | None = None
    ) -> EnforcementRecord:
        """Record a note or a skip (no broker call), and alert as its outcome says."""
        ...

    async def close(
        self, firing: Firing, contract_id: str, action: str, lockout_id: str | None = None
    ) -> EnforcementRecord: ...

    async def reduce(self, firing: Firing, pos: Position, to: int) -> EnforcementRecord: ...

    async def cancel(
        self, firing: Firing, order_id: int, action: str, lockout_id: str | None = None
    ) -> EnforcementRecord: ...

    async def flatten(
        self, firing: Firing, action: str, lock: LockoutRecord | None = None
    ) -> Records:
        """Close and cancel everything (of a symbol block's symbol, under its `lock`)."""
        ...

    async def protect(
        self, firing: Firing, pos: Position, action: str, stop: Decimal
    ) -> EnforcementRecord: ...

    async def target(
        self, firing: Firing, pos: Position, action: str, price: Decimal
    ) -> EnforcementRecord: ...

    def alert(self, firing: Firing) -> None: ...

    def close_sent(self, contract_id: str) -> bool:
        """A close of the position is in flight or sent and not yet confirmed."""
        ...

    def settle(self) -> None:
        """Forget the goals the state shows reached (after every event and snapshot)."""
        ...

    def begin_step(self) -> None:
        """A new engine step: what it schedules is retried in a later one."""
        ...

    def next_due(self, this_step: bool = True) -> dt.datetime | None: ...

    def take_due(self, now: dt.datetime) -> Retries | None:
        """The goals due at `now`, taken at once (the clock loop moves on); None: none."""
        ...


class EnforcerFactory(Protocol):
    """Builds the engine's enforcer: each call times out after `timeout_s`; a goal is retried
    by `retry` (None: never)."""

    def __call__(
        self, parts: EnforcerParts, timeout_s: float, retry: RetryPolicy | None, /
    ) -> EnforcerPort: ...
