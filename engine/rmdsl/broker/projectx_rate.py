"""The gateway's request budget, shared so that enforcement goes first (docs/broker.md,
"Rate limits").

The gateway answers HTTP 429 past 200 requests per 60 s. project-x-py 4.4.1
paces requests with its own RateLimiter (PROJECTX_REQUESTS_PER_MINUTE,
default 60): a sliding window whose lock is held while a request sleeps for
room, so a close would queue behind every search ahead of it. PriorityGate
takes that limiter's place on the client (the SDK only calls `acquire()`),
so every HTTP request the SDK sends, its own token renewals included, is
counted once, and:
- an enforcement call (close, partial close, cancel, place/modify of a
  protective order) never waits: it may use the whole budget;
- any other call (searches, reconciles, contract lookups) waits while the
  budget left is at or below `reserve`, and after a 429 backs off with jitter;
  the waiting ones are let through one at a time, by priority (NORMAL before
  BULK, the reconciles' reads) then in order of arrival;
- a read admitted before its call starts (`admitted()`) waits for its turn
  outside the call's timeout: a read queued behind 600 others is not timed out
  and sent again, it waits (docs/broker.md, "Many accounts: start-up").
A 429 on an enforcement call surfaces as BrokerError(code=RATE_LIMITED),
which the enforcer retries like any failed attempt.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from rmdsl.errors import BrokerError

RATE_LIMITED = 429  # BrokerError.code of a call the gateway refused with HTTP 429
NORMAL, BULK = 1, 2  # the priorities of waiting requests: lower goes first
# a slot of the window granted before an admitted call started: its first request takes it
_CREDIT: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "rmdsl_credit", default=None
)
_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("rmdsl_urgent", default=False)
# the HTTP statuses answered to one enforcement call: the SDK swallows some errors (a close
# answers {"success": False, "error": "Operation failed"}), the status tells a 429 apart
_ANSWERS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "rmdsl_answers", default=None
)


@dataclass(frozen=True, slots=True)
class Budget:
    """The gateway's window (official Rate Limits page) and the share kept for enforcement."""

    limit: int = 200
    window_s: float = 60.0
    reserve: int = 40  # other calls leave this many requests of the window to enforcement
    backoff_s: float = 1.0  # other calls' pause after a 429, doubled per 429 in a row
    backoff_cap_s: float = 30.0
    jitter: float = 0.5  # up to +50 %: several clients do not come back in step
    # a slot is counted when granted, the gateway counts the request when it arrives: a busy
    # event loop delays some sends more than others, so a slot stays taken this long past the
    # window (without it, a stall bunches two windows' requests into one gateway window: 429)
    slack_s: float = 0.25


class _Waiter:
    __slots__ = ("future", "key", "priority", "seq")

    def __init__(self, priority: int, seq: int, key: Hashable, future: asyncio.Future[float]):
        self.priority, self.seq, self.key, self.future = priority, seq, key, future


class PriorityGate:
    """A sliding window of the requests sent; `acquire()` is what the SDK awaits per request."""

    def __init__(
        self,
        budget: Budget = Budget(),
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.budget = budget
        self._clock = clock
        self._rng = rng or random.Random()
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._strikes = 0
        self.sent = 0  # requests let through
        self.waited = 0  # non-enforcement requests that had to wait
        self.refused = 0  # 429 answers seen
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._server: asyncio.Task[None] | None = None

    @contextmanager
    def urgent(self) -> Iterator[list[int]]:
        """Requests sent inside (this task and tasks it starts) are enforcement: they never
        wait. Yields the HTTP statuses of their answers (the SDK sends from a task of its
        own, which inherits this context and so appends to the same list)."""
        statuses: list[int] = []
        urgent, answers = _URGENT.set(True), _ANSWERS.set(statuses)
        try:
            yield statuses
        finally:
            _ANSWERS.reset(answers)
            _URGENT.reset(urgent)

    def remaining(self) -> int:
        self._trim(self._clock())
        return self.budget.limit - len(self._sent)

    async def acquire(self) -> None:
        if _URGENT.get():
            self._record()
            return
        credit = _CREDIT.get()
        if credit:  # admitted before the call: its slot, counted from now (the gateway
            self._release(credit.pop())  # counts the request when it arrives, not when
            self._record()  # it was granted, which may be a while before under load)
            return
        await self.turn(NORMAL)

    async def turn(self, priority: int = NORMAL, key: Hashable = None) -> float:
        """Wait for room in the window, after every waiter of a lower priority number and
        every earlier one of the same; the slot is counted before this returns (its time)."""
        return (await self.turns(1, priority, key))[0]

    async def turns(self, n: int, priority: int = NORMAL, key: Hashable = None) -> list[float]:
        """`n` slots granted back to back (one place in the queue, not n: a snapshot's reads
        do not each queue again behind every other account's)."""
        granted: list[float] = []
        while len(granted) < n and not self._waiters and self._delay() <= 0:
            granted.append(self._record())
        loop = asyncio.get_running_loop()
        waiters = [
            _Waiter(priority, next(self._seq), key, loop.create_future())
            for _ in range(n - len(granted))
        ]
        if not waiters:
            return granted
        self._waiters += waiters
        self.waited += len(waiters)
        if self._server is None or self._server.done():
            self._server = asyncio.create_task(self._serve(), name="rmdsl-rate-gate")
        try:
            for waiter in waiters:
                granted.append(await waiter.future)
        except asyncio.CancelledError:
            for sent_at in granted:  # granted, never sent
                self._release(sent_at)
            for waiter in waiters[len(granted) - (n - len(waiters)) :]:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.future.done() and not waiter.future.cancelled():
                    self._release(waiter.future.result())
            raise
        return granted

    async def _serve(self) -> None:
        """Grant the waiters their slots one by one, as the window makes room."""
        while self._waiters:
            delay = self._delay()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            waiter = min(self._waiters, key=lambda w: (w.priority, w.seq))
            self._waiters.remove(waiter)
            if not waiter.future.done():
                waiter.future.set_result(self._record())

    @asynccontextmanager
    async def admitted(self, priority: int = BULK, key: Hashable = None) -> AsyncIterator[None]:
        """Wait for a turn, then run the block: its first request uses the slot (a call's
        timeout starts inside the block, after the wait). A slot left unused (the SDK
        answered from its cache) is given back. Inside `reserved()` a reserved slot is used
        while one is left; past them the call goes NORMAL (its caller is pausing work)."""
        held = _CREDIT.get()
        if held:
            credit = [held.pop()]
        else:
            credit = [await self.turn(priority if held is None else NORMAL, key)]
        token = _CREDIT.set(credit)
        try:
            yield
        finally:
            _CREDIT.reset(token)
            if credit:
                self._release(credit[0])

    @asynccontextmanager
    async def reserved(
        self, n: int, priority: int = BULK, key: Hashable = None
    ) -> AsyncIterator[None]:
        """Wait for `n` slots, then run the block: its requests (and those of the tasks it
        starts) use them first. The wait is over before the block starts, so a caller may
        pause other work for the block only, not for the queue (a reconcile pauses its
        account's events for the reads, not for the turn). Unused slots are given back."""
        credit = await self.turns(n, priority, key)
        token = _CREDIT.set(credit)
        try:
            yield
        finally:
            _CREDIT.reset(token)
            for sent_at in credit:
                self._release(sent_at)

    def hurry(self, key: Hashable) -> None:
        """The waiting requests of `key` (an account with activity) go before BULK ones."""
        for waiter in self._waiters:
            if waiter.key == key:
                waiter.priority = min(waiter.priority, NORMAL)

    @property
    def queued(self) -> int:
        """Requests waiting for their turn."""
        return len(self._waiters)

    def _record(self) -> float:
        now = self._clock()
        self._sent.append(now)
        self.sent += 1
        return now

    def _release(self, sent_at: float) -> None:
        try:
            self._sent.remove(sent_at)
        except ValueError:  # already out of the window
            return
        self.sent -= 1

    def _delay(self) -> float:
        """How long a non-enforcement request must wait (0: go)."""
        now = self._clock()
        self._trim(now)
        if now < self._paused_until:
            return self._paused_until - now
        room = self.budget.limit - self.budget.reserve
        if len(self._sent) < room:
            return 0.0
        # the request that must leave the window before there is room again
        leaving = self._sent[len(self._sent) - room] if room > 0 else self._sent[-1]
        return max(leaving + self.budget.window_s + self.budget.slack_s - now, 0.001)

    def _trim(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.budget.window_s - self.budget.slack_s:
            self._sent.popleft()

    def note_status(self, status: int) -> None:
        """Every answer's HTTP status: a 429 pauses the other calls, a success ends the streak."""
        if status == RATE_LIMITED:
            self.refused += 1
            self._strikes += 1
            base = min(self.budget.backoff_s * 2 ** (self._strikes - 1), self.budget.backoff_cap_s)
            pause = base * (1 + self.budget.jitter * self._rng.random())
            self._paused_until = max(self._paused_until, self._clock() + pause)
        elif status < 400:
            self._strikes = 0

    async def on_response(self, response: Any) -> None:
        """httpx response hook."""
        status = int(response.status_code)
        self.note_status(status)
        answers = _ANSWERS.get()
        if answers is not None:
            answers.append(status)


def install(client: Any, gate: PriorityGate) -> None:
    """Put the gate in the SDK client's limiter slot and watch its HTTP answers."""
    if hasattr(client, "rate_limiter"):
        client.rate_limiter = gate
    http = getattr(client, "_client", None)  # the SDK's httpx.AsyncClient
    hooks = getattr(http, "event_hooks", None)
    if isinstance(hooks, dict) and gate.on_response not in hooks.get("response", []):
        hooks.setdefault("response", []).append(gate.on_response)  # httpx reads it per answer


def rate_limited(exc: BaseException) -> bool:
    """Whether an SDK error is the gateway's 429 (the SDK keeps no status code on it).

    A 429 on a read raises ProjectXRateLimitError; on a mutating call
    OrderSubmissionUncertainError ("rate-limited after it may have been submitted").
    """
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "ProjectXRateLimitError" or "rate-limited" in str(seen):
            return True
        seen = seen.__cause__
    return False


async def enforcement[T](gate: PriorityGate, what: str, call: Awaitable[T]) -> T:
    """Await an adapter call (not yet started) as enforcement; one the gateway refused with
    HTTP 429 fails with code RATE_LIMITED, however the SDK reported it."""
    with gate.urgent() as statuses:
        try:
            result = await call
        except BrokerError as exc:
            if RATE_LIMITED in statuses and exc.code != RATE_LIMITED:
                raise BrokerError(f"{exc} (HTTP 429)", code=RATE_LIMITED) from exc
            raise
    failed = result is False or (isinstance(result, Mapping) and not result.get("success"))
    if RATE_LIMITED in statuses and failed:
        raise BrokerError(f"{what}: HTTP 429 Too Many Requests", code=RATE_LIMITED)
    return result
