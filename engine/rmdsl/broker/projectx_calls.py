"""One SDK call of the ProjectX adapter: bounded in time, and every failure a BrokerError.

projectx.py makes its calls through these; the gateway's `success: false`
answers and the SDK's exceptions become rmdsl.errors.BrokerError here, with
the broker's own message in it (docs/broker.md, "Timeouts and errors").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from decimal import Decimal
from typing import Any

from rmdsl.broker import projectx_rate as rate
from rmdsl.errors import BrokerError


async def bounded[T](what: str, call: Awaitable[T], limit: float) -> T:
    """Await one SDK call under a timeout; anything it raises becomes a BrokerError."""
    timer = asyncio.timeout(limit)
    try:
        async with timer:
            return await call
    except BrokerError:
        raise
    except Exception as exc:
        if timer.expired():
            detail = "" if isinstance(exc, TimeoutError) else f" ({message(exc)})"
            raise BrokerError(f"{what}: no answer within {limit:g} s{detail}") from exc
        code = rate.RATE_LIMITED if rate.rate_limited(exc) else None
        raise BrokerError(f"{what}: {message(exc)}", code=code) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def check_answer(what: str, answer: Any) -> None:
    """The position endpoints answer a gateway dict; `success: false` is a failure."""
    if not isinstance(answer, Mapping):
        raise BrokerError(f"{what}: unexpected answer {answer!r}")
    if not answer.get("success", False):
        reason = answer.get("errorMessage") or answer.get("error")
        code = answer.get("errorCode")
        suffix = f" (errorCode {code})" if code else ""
        number = code if isinstance(code, int) and not isinstance(code, bool) else None
        raise BrokerError(f"{what}: {reason or 'rejected'}{suffix}", code=number)


def message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def as_float(value: Decimal | None) -> float | None:
    """The SDK takes float prices (and aligns them to the tick itself)."""
    return None if value is None else float(value)


async def gather_all[A, P, O, T](
    a: Awaitable[A], p: Awaitable[P], o: Awaitable[O], t: Awaitable[T]
) -> tuple[A, P, O, T]:
    """Run the four snapshot reads at once; the first failure is raised after all finished."""
    results = await asyncio.gather(a, p, o, t, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]
