"""Fault injection and the request log of the simulated gateway.

A fault applies to the next N requests to one REST path ("*" = any path):
answer success false with an error code, answer an HTTP status, delay, or
answer success without doing anything. A Freeze stops the whole gateway for a
while (REST and both hubs, pings included). Every request is logged with its
path, JSON body and monotonic_ns arrival, and its answer (HTTP status and
JSON body) once sent: a soak or a fault test judges a close by what the
gateway made of it (e.g. errorCode 2, no position).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestRecord:
    path: str  # relative to api_url, e.g. "/Position/closeContract"
    body: Any
    received_ns: int


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """What the gateway answered one logged request (body None if it was not JSON)."""

    request: RequestRecord
    status: int
    body: Any
    answered_ns: int


@dataclass(frozen=True, slots=True)
class ErrorFault:
    """Answer `{"success": false, "errorCode": code, "errorMessage": message}`."""

    code: int = 7
    message: str = "Injected failure"


@dataclass(frozen=True, slots=True)
class StatusFault:
    """Answer an HTTP error status (500 -> ProjectXServerError in the SDK)."""

    status: int = 500
    message: str = "Injected server error"


@dataclass(frozen=True, slots=True)
class DelayFault:
    """Hold the request for `seconds`, then serve it normally."""

    seconds: float


@dataclass(frozen=True, slots=True)
class IgnoreFault:
    """Answer success and do nothing: a close the gateway acknowledged that never happens."""


Fault = ErrorFault | StatusFault | DelayFault | IgnoreFault


class FaultPlan:
    """Armed faults per path, consumed in order, one per request."""

    def __init__(self) -> None:
        self._armed: dict[str, deque[Fault]] = {}

    def inject(self, path: str, fault: Fault, count: int = 1) -> None:
        queue = self._armed.setdefault(_norm(path), deque())
        queue.extend([fault] * count)

    def take(self, path: str) -> Fault | None:
        for key in (_norm(path), "*"):
            queue = self._armed.get(key)
            if queue:
                return queue.popleft()
        return None

    def pending(self, path: str) -> int:
        return len(self._armed.get(_norm(path), ()))

    def clear(self) -> None:
        self._armed.clear()


def _norm(path: str) -> str:
    if path == "*":
        return path
    return "/" + path.strip("/")


class RequestLog:
    """Append-only log of REST requests that tests can wait on."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.answers: list[AnswerRecord] = []
        self._changed = asyncio.Event()

    def add(self, path: str, body: Any) -> RequestRecord:
        record = RequestRecord(path, body, time.monotonic_ns())
        self.records.append(record)
        self._changed.set()
        return record

    def answer(self, record: RequestRecord, status: int, body: Any) -> AnswerRecord:
        answer = AnswerRecord(record, status, body, time.monotonic_ns())
        self.answers.append(answer)
        return answer

    def answered(self, path: str) -> list[AnswerRecord]:
        """The answers to requests to `path`, in the order they were sent."""
        path = _norm(path)
        return [a for a in self.answers if a.request.path == path]

    def calls(self, path: str) -> list[RequestRecord]:
        path = _norm(path)
        return [r for r in self.records if r.path == path]

    async def wait_for(self, path: str, *, count: int = 1, timeout: float = 5.0) -> RequestRecord:
        """The `count`-th request to `path`; TimeoutError if it does not come in time."""
        async with asyncio.timeout(timeout):
            while True:
                found = self.calls(path)
                if len(found) >= count:
                    return found[count - 1]
                self._changed.clear()
                await self._changed.wait()


class Freeze:
    """The gateway frozen for a while: nothing answered, read or written until it thaws.

    REST requests wait, the hubs neither read (no pong to a client's ping) nor write;
    with `lose_pushes` the pushes produced meanwhile are lost (a gateway that dropped
    the connection's state), else they are delivered at the thaw.
    """

    def __init__(self) -> None:
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._timer: asyncio.TimerHandle | None = None
        self.lose_pushes = False

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def start(self, seconds: float, lose_pushes: bool = True) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._thawed.clear()
        self.lose_pushes = lose_pushes
        self._timer = asyncio.get_running_loop().call_later(seconds, self.thaw)

    def thaw(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._thawed.set()

    async def wait(self) -> None:
        """Return at once unless frozen; then when thawed."""
        await self._thawed.wait()
