"""The persistence protocol between the engine and a state store (SQLite in rmdsl.store).

The engine calls a `StateStore` for everything that decides a future
enforcement (lockouts, timers, today's trades and P&L, open positions) and for
history (enforcement actions, ruleset versions, metric samples); `load`
restores it after a restart. Records are frozen, plain and json-able: money is
Decimal, instants are tz-aware UTC datetimes, trading days are dates.

Durability contract: `apply(writes)` commits a batch of writes in one transaction
(SQLite in WAL mode, synchronous=FULL) and returns once it is committed; each single
write method is a batch of one. The engine never awaits the disk on the way to a
broker call: it hands each step's writes to rmdsl.engine.writer.WriteBehind, whose one
background task commits them in order after the enforcement is dispatched (what a
kill -9 can lose, and how it is recovered: docs/engine.md, "Persistence"). Methods
raise rmdsl.errors.StoreError on failure; the writer retries, alerts, and the engine
keeps enforcing from memory.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from rmdsl.engine.dayrecord import DayResultRecord as DayResultRecord  # the day history's row

ZERO = Decimal(0)


class UntilKindRecord(enum.StrEnum):
    """How a lockout ends: the kind is kept so a reload can recompute `until_ts`."""

    RESET = "reset"  # at the next trading-day reset
    SESSION_START = "session_start"  # at the next session open
    DURATION = "duration"  # a fixed instant (cooldown)
    CAN_TRADE = "can_trade"  # reserved: until the gateway reports canTrade again


class LockoutKind(enum.StrEnum):
    """What an active lockout forbids (docs/decisions.md D7, D-pause-kind)."""

    LOCKOUT = "lockout"  # the whole account: flattened, every new exposure closed/cancelled
    SYMBOL_BLOCK = "symbol_block"  # one symbol (block_symbol): the same for that symbol
    PAUSE = "pause"  # the account, without the flatten: only exposure opened during it


class Outcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # BrokerError or timeout: recorded, alerted, no lockout (Q13)
    SKIPPED = "skipped"  # nothing to do (already flat, close already in flight, dry run)
    ERROR = "error"  # a rule's evaluation raised: action = the part that failed (ruleerrors)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One fill, keyed by the gateway's trade id (duplicates are upserts, never new rows)."""

    trade_id: int
    account_id: int
    contract_id: str
    symbol: str
    ts: dt.datetime
    trading_day: dt.date
    side: str  # "buy" | "sell"
    size: int
    price: Decimal
    pnl: Decimal | None  # the gateway's profitAndLoss: gross, None on opening fills
    # (net = pnl - fees is recomputed from these two on every restore)
    fees: Decimal = ZERO
    voided: bool = False
    order_id: int = 0
    by_rmdsl: bool = False  # a fill of rmdsl's own close (rmdsl.engine.origin)


@dataclass(frozen=True, slots=True)
class AccountStateRecord:
    """Today's counters of one account: one row per account, overwritten on every change."""

    account_id: int
    trading_day: dt.date
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
    peak_pnl: Decimal = ZERO
    trades: int = 0
    wins: int = 0
    losses: int = 0
    consecutive_losses: int = 0
    last_reset: dt.datetime | None = None  # the reset instant that began trading_day
    updated_at: dt.datetime | None = None
    balance: Decimal | None = None
    account_name: str = ""
    # the directional params in force for trading_day and the looser file values that wait for
    # the reset (rmdsl.engine.params): {"in_force": {name: text}, "waiting": {name: {...}}}
    params: Mapping[str, Any] = field(default_factory=dict)
    # the account model (rmdsl.engine.account), for `rmdsl status`; net None: balance unknown
    eod_high: Decimal | None = None
    mll: Decimal | None = None
    net: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PositionRecord:
    position_id: int
    account_id: int
    symbol: str
    contract_id: str
    side: str  # "long" | "short"
    quantity: int
    entry_price: Decimal
    opened_at: dt.datetime
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class LockoutRecord:
    """An account lockout or pause (symbol None), or a symbol block; active until lifted_at."""

    id: str  # engine-generated, unique
    account_id: int
    symbol: str | None
    rule_id: str
    until_ts: dt.datetime | None  # None only for CAN_TRADE
    until_kind: UntilKindRecord
    created_at: dt.datetime
    lifted_at: dt.datetime | None = None
    reason: str = ""
    kind: LockoutKind = LockoutKind.LOCKOUT  # SYMBOL_BLOCK iff symbol is set


@dataclass(frozen=True, slots=True)
class TimerRecord:
    """A running `for:` timer or NoStopLossGrace timer.

    key = f"{rule_id}|{entity}" where entity is "account", a contract id
    (position/symbol scope), "order:<id>" or "trade:<id>".
    """

    key: str
    account_id: int
    rule_id: str
    entity: str
    started_at: dt.datetime
    deadline: dt.datetime


@dataclass(frozen=True, slots=True)
class EnforcementRecord:
    """One action the engine took (or tried), with what made the rule fire."""

    timestamp: dt.datetime  # the event time (virtual clock) the rule fired at
    account_id: int
    rule_name: str
    action: str  # "close_position", "flatten", ... plus args e.g. "lockout(until=reset)"
    reason: str  # the rendered message
    values: Mapping[str, Any] = field(default_factory=dict)  # json-able: name -> value as str
    target: str = ""  # contract id / order id / "" for the account
    event_received_ts: dt.datetime | None = None  # wall clock when the causing event arrived
    action_sent_ts: dt.datetime | None = None  # wall clock when the broker call was sent
    latency_ms: float | None = None  # action sent - event received (monotonic clock)
    outcome: Outcome = Outcome.OK
    error: str | None = None
    severity: str = "critical"
    shown: Mapping[str, str] = field(default_factory=dict)  # values as the language writes them


@dataclass(frozen=True, slots=True)
class RulesetVersionRecord:
    digest: str
    name: str
    path: str
    loaded_at: dt.datetime
    files: tuple[str, ...] = ()
    account_id: int = 0
    timezone: str = ""  # IANA name of the ruleset's clock ("America/Chicago"); "" if unknown


@dataclass(frozen=True, slots=True)
class MetricSample:
    """A periodic metric figure; label is the rule id for per-rule evaluation time."""

    name: str  # enforcement_latency_ms, event_processing_us, rss_mb, reconcile_ms, queue_depth,
    # rule_eval_us ... plus "<name>.p50|p95|p99" summaries
    value: float
    ts: dt.datetime
    label: str = ""
    account_id: int = 0


@dataclass(frozen=True, slots=True)
class PersistedState:
    """What `load` returns: enough to resume enforcing exactly where the engine stopped."""

    account: AccountStateRecord | None = None
    positions: tuple[PositionRecord, ...] = ()
    trades: tuple[TradeRecord, ...] = ()  # the trades of account.trading_day
    previous: AccountStateRecord | None = None  # the trading day before account.trading_day
    previous_trades: tuple[TradeRecord, ...] = ()  # its trades: a late fill is known there
    lockouts: tuple[LockoutRecord, ...] = ()  # active only (lifted_at is None)
    timers: tuple[TimerRecord, ...] = ()
    ruleset: RulesetVersionRecord | None = None  # the last recorded version
    days: tuple[DayResultRecord, ...] = ()  # the kept closed days, oldest first
    # the fills of the closed days a trailing window can still reach (rmdsl.engine.history)
    recent_trades: tuple[TradeRecord, ...] = ()


# ---- the batch API: one frozen record per write method, applied in order -------------------


@dataclass(frozen=True, slots=True)
class SaveAccount:
    state: AccountStateRecord


@dataclass(frozen=True, slots=True)
class ResetDay:
    state: AccountStateRecord


@dataclass(frozen=True, slots=True)
class RecordDay:
    """Upsert a closed day's result; rows of days before `keep_from` are deleted."""

    day: DayResultRecord
    keep_from: dt.date


@dataclass(frozen=True, slots=True)
class RecordTrade:
    trade: TradeRecord


@dataclass(frozen=True, slots=True)
class UpsertPosition:
    position: PositionRecord


@dataclass(frozen=True, slots=True)
class RemovePosition:
    account_id: int
    position_id: int


@dataclass(frozen=True, slots=True)
class ReplacePositions:
    account_id: int
    positions: tuple[PositionRecord, ...]


@dataclass(frozen=True, slots=True)
class AddLockout:
    lockout: LockoutRecord


@dataclass(frozen=True, slots=True)
class LiftLockout:
    lockout_id: str
    lifted_at: dt.datetime


@dataclass(frozen=True, slots=True)
class StartTimer:
    timer: TimerRecord


@dataclass(frozen=True, slots=True)
class CancelTimer:
    account_id: int
    key: str


@dataclass(frozen=True, slots=True)
class RecordEnforcement:
    record: EnforcementRecord


@dataclass(frozen=True, slots=True)
class RecordVersion:
    version: RulesetVersionRecord


@dataclass(frozen=True, slots=True)
class RecordMetrics:
    samples: tuple[MetricSample, ...]


Write = (
    SaveAccount
    | ResetDay
    | RecordDay
    | RecordTrade
    | UpsertPosition
    | RemovePosition
    | ReplacePositions
    | AddLockout
    | LiftLockout
    | StartTimer
    | CancelTimer
    | RecordEnforcement
    | RecordVersion
    | RecordMetrics
)


class StateStore(Protocol):
    """Where the engine keeps what must survive a restart. Every write is committed on return."""

    async def apply(self, writes: Sequence[Write]) -> None:
        """All `writes`, in order, in ONE transaction: committed together or not at all.

        The engine's writer calls it with each step's writes (several steps' when the
        disk is slower than the events); a failure leaves none of them applied.
        """
        ...

    async def load(self, account_id: int) -> PersistedState:
        """At Engine.start, before the first event: today's state, active lockouts, timers."""
        ...

    async def save_account_state(self, state: AccountStateRecord) -> None:
        """After each event that changed realized P&L / counters (fills, voids, reset).

        Queued in the same batch as the fill, after the enforcement it causes is dispatched.
        Unrealized-only changes (quotes) are saved at most once a second.
        """
        ...

    async def record_day(self, day: DayResultRecord, keep_from: dt.date) -> None:
        """At each reset (and for a late fill of the closed day): the day's result row."""
        ...

    async def record_trade(self, trade: TradeRecord) -> None:
        """On every new fill and on a void (same trade_id: upsert); re-read from the broker."""
        ...

    async def upsert_position(self, position: PositionRecord) -> None:
        """When a position opens or its size/price changes (position events)."""
        ...

    async def remove_position(self, account_id: int, position_id: int) -> None:
        """When a position closes (size 0)."""
        ...

    async def replace_positions(self, account_id: int, positions: Sequence[PositionRecord]) -> None:
        """After Engine.reconcile: the broker snapshot's positions replace the stored ones."""
        ...

    async def add_lockout(self, lockout: LockoutRecord) -> None:
        """When a lockout/block_symbol fires: queued before its flatten's records, never awaited."""
        ...

    async def lift_lockout(self, lockout_id: str, lifted_at: dt.datetime) -> None:
        """When a lockout expires (reset, session start, duration) — never on reload."""
        ...

    async def start_timer(self, timer: TimerRecord) -> None:
        """When a `for:` condition becomes true or a position is found unprotected (upsert)."""
        ...

    async def cancel_timer(self, account_id: int, key: str) -> None:
        """When the condition clears, the entity goes away, or the timer fires."""
        ...

    async def record_enforcement(self, record: EnforcementRecord) -> None:
        """After each broker call (or skip): history, queued after its causes (same order)."""
        ...

    async def record_ruleset_version(self, version: RulesetVersionRecord) -> None:
        """At start and on every successful hot reload."""
        ...

    async def record_metrics(self, samples: Sequence[MetricSample]) -> None:
        """Periodically (every ~60 s in the daemon): summaries of the six metrics."""
        ...

    async def before_reset(
        self, account_id: int, trading_day: dt.date, reset_at: dt.datetime
    ) -> None:
        """Just before the daily reset is applied: the store writes its backup snapshot."""
        ...

    async def reset_day(self, state: AccountStateRecord) -> None:
        """The reset itself: the new day's zeroed counters (old trades stay as history)."""
        ...

    async def enforcement_history(
        self, account_id: int, limit: int = 100
    ) -> list[EnforcementRecord]:
        """Newest first: for `rmdsl history` / `status` and tests."""
        ...

    async def close(self) -> None:
        """At Engine.stop: flush and release the database."""
        ...
