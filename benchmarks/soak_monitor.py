"""The soak's watch: polls the oracle every few ms, judges deadlines, times every cure.

A breach that stands must be gone by max(its due instant, when the current
daemon went live) + tolerance: a daemon cannot act while it is down, and after
a restart it owes at once everything that came due meanwhile (the catch-up).
Breaches standing while the daemon is down or starting are "awaiting the
restart"; when one is cured its time from the spawn is recorded. Breaches that
come due while the daemon runs time the enforcement in flight (due -> cured).
Cures are seen at the poll's resolution (POLL_S). It also polls right after
each trader step, so a breach the daemon cures within a poll is still counted,
and what the step itself made disappear is not counted as a cure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from soak_daemon import DaemonProc
from soak_oracle import Breach, Oracle

POLL_S = 0.02

UNENFORCED = (
    "daily_loss_exposure",
    "cooldown_exposure",
    "no_stop_past_grace",
    "over_max_contracts",
    "lockout_not_recorded",
)
REPEATED = ("close_of_flat", "over_reduce", "cancel_of_gone", "duplicate_lockout")
DAEMON = ("did_not_start", "exited_by_itself")


def category(kind: str) -> str:
    if kind in UNENFORCED:
        return "unenforced"
    if kind in REPEATED:
        return "repeated"
    return "daemon"


@dataclass
class Violation:
    kind: str
    session: int
    cycle: int
    detail: str
    late_s: float | None = None  # cured this long after its deadline; None: not (yet) cured

    def line(self, seed: int) -> str:
        late = "" if self.late_s is None else f" (cured {self.late_s:.2f} s past the deadline)"
        return (
            f"{category(self.kind)}:{self.kind} session {self.session} cycle {self.cycle} "
            f"seed {seed}: {self.detail}{late}"
        )


@dataclass
class Figures:
    """Everything the report prints."""

    kills: int = 0
    start_kills: int = 0
    cycles: int = 0
    sessions: int = 0
    start_s: list[float] = field(default_factory=list)  # spawn -> live
    breaches: Counter[str] = field(default_factory=Counter)
    awaiting: Counter[str] = field(default_factory=Counter)  # standing while the daemon was down
    after_restart: Counter[str] = field(default_factory=Counter)  # of those, cured after it
    ran_out: Counter[str] = field(default_factory=Counter)  # of those, the cooldown ended first
    restart_cure_s: list[float] = field(default_factory=list)  # spawn -> cured
    live_cure_s: list[float] = field(default_factory=list)  # live -> cured
    running_cure_s: list[float] = field(default_factory=list)  # due -> cured, daemon up
    violations: list[Violation] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)  # the daemons' enforcement requests
    plans: dict[int, str] = field(default_factory=dict)  # cycle -> its kill plan

    verbose: bool = False

    def violate(self, kind: str, session: int, cycle: int, detail: str) -> Violation:
        found = Violation(kind, session, cycle, detail)
        self.violations.append(found)
        if self.verbose:
            print(f"  VIOLATION {kind}: {detail}", flush=True)
        return found


def spread(values: list[float]) -> str:
    """p50 / p95 / max in seconds, or "-" when nothing was measured."""
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s"


class Monitor:
    """Polls one session's oracle while its daemon is killed and restarted."""

    def __init__(
        self,
        figures: Figures,
        tolerance_s: float,
        now: Callable[[], dt.datetime],
        clock_at: Callable[[int], dt.datetime],
    ) -> None:
        self.figures = figures
        self.tolerance = dt.timedelta(seconds=tolerance_s)
        self.now, self.clock_at = now, clock_at
        self.oracle: Oracle | None = None
        self.daemon: DaemonProc | None = None
        self.session = self.cycle = 0
        self.paused = True
        self._prev: dict[str, Breach] = {}
        self._seen: set[str] = set()
        self._judged: dict[str, Violation | None] = {}
        self._awaiting: set[str] = set()

    def trader_acted(self) -> None:
        """Poll right after a trader step: the breaches it made are seen before the daemon
        can react, and what it made disappear is the trader's doing, not a cure."""
        self.poll(trader=True)

    def bind(self, oracle: Oracle, daemon: DaemonProc, session: int) -> None:
        self.oracle, self.daemon, self.session = oracle, daemon, session
        self._prev, self._awaiting = {}, set()

    async def run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(POLL_S)

    def poll(self, trader: bool = False) -> None:
        oracle, daemon = self.oracle, self.daemon
        if self.paused or oracle is None or daemon is None:
            self._prev, self._awaiting = {}, set()
            return
        now = self.now()
        standing = {b.key: b for b in oracle.standing(now)}
        live_at = None if daemon.live_ns is None else self.clock_at(daemon.live_ns)
        for key, breach in standing.items():
            if key not in self._seen:
                self._seen.add(key)
                self.figures.breaches[breach.kind] += 1
            if live_at is None:
                if key not in self._awaiting:
                    self._awaiting.add(key)
                    self.figures.awaiting[breach.kind] += 1
            elif key not in self._judged and now > max(breach.due, live_at) + self.tolerance:
                self._judged[key] = self.figures.violate(
                    breach.kind, self.session, self.cycle, breach.detail
                )
        if trader:
            self._awaiting &= set(standing)
        else:
            for key, breach in self._prev.items():
                if key not in standing:
                    self._cured(breach, now, live_at, daemon)
        self._prev = standing

    def _cured(
        self, breach: Breach, now: dt.datetime, live_at: dt.datetime | None, daemon: DaemonProc
    ) -> None:
        if breach.until is not None and now >= breach.until - dt.timedelta(seconds=1):
            if breach.key in self._awaiting:
                self._awaiting.discard(breach.key)
                self.figures.ran_out[breach.kind] += 1
            return  # the cooldown ran out: not a cure
        judged = self._judged.get(breach.key)
        if judged is not None:
            deadline = breach.due if live_at is None else max(breach.due, live_at)
            judged.late_s = (now - deadline - self.tolerance).total_seconds()
        if breach.key in self._awaiting:
            self._awaiting.discard(breach.key)
            self.figures.after_restart[breach.kind] += 1
            spawned = self.clock_at(daemon.spawn_ns)
            self.figures.restart_cure_s.append((now - spawned).total_seconds())
            if live_at is not None:
                self.figures.live_cure_s.append((now - live_at).total_seconds())
        elif live_at is not None:
            self.figures.running_cure_s.append((now - max(breach.due, live_at)).total_seconds())
