"""Steps -> Broker calls, each timed out, recorded as an EnforcementRecord, failures alerted.

Failure policy (product decision Q13): a BrokerError or a timeout is logged
critically, alerted, recorded with outcome `failed`, and enforcement goes on;
no lockout is ever set because of a failure. Never two concurrent closes of
one position: a close in flight makes a second one `skipped`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from rmdsl.broker.interface import Broker, OrderRequest
from rmdsl.engine.evaluate import Firing
from rmdsl.engine.events import OrderType
from rmdsl.engine.persistence import EnforcementRecord, Outcome, StateStore
from rmdsl.engine.state import AccountState, Order, Position
from rmdsl.errors import BrokerError, StoreError
from rmdsl.metrics import Metrics
from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.enforce")

DEFAULT_TIMEOUT_S = 5.0
# how long an accepted close suppresses another close of the same position until the broker
# reports the position (a lost update must not block enforcement for good)
RECENT_CLOSE_NS = 2_000_000_000
STOP_TAG = "rmdsl:stop"
TARGET_TAG = "rmdsl:target"


def wall_of(mono_ns: int) -> dt.datetime:
    """A monotonic_ns reading as a wall-clock instant (for history)."""
    offset = (time.monotonic_ns() - mono_ns) / 1e9
    return dt.datetime.fromtimestamp(time.time() - offset, dt.UTC)


class Enforcer:
    """Talks to the broker for the engine; every call ends as one EnforcementRecord."""

    def __init__(
        self,
        broker: Broker,
        store: StateStore,
        notifier: Notifier,
        metrics: Metrics,
        state: AccountState,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.broker = broker
        self.store = store
        self.notifier = notifier
        self.metrics = metrics
        self.state = state
        self.timeout_s = timeout_s
        self.closing: set[str] = set()  # contract ids with a close in flight
        # contract -> monotonic ns of a close the broker accepted but has not reported yet
        self.closed: dict[str, int] = {}

    # ---- the single choke point --------------------------------------------------------------
    async def call(
        self,
        firing: Firing,
        action: str,
        target: str,
        send: Callable[[], Awaitable[Any]] | None,
        skip: str | None = None,
    ) -> EnforcementRecord:
        """Send one broker call with a timeout (or record a skip / a note); record and alert."""
        sent_ns = time.monotonic_ns()
        outcome, error = Outcome.OK, None
        if skip is not None:
            outcome, error = Outcome.SKIPPED, skip
        elif send is None:
            pass  # a bookkeeping record (a lockout set, an alert sent): nothing to send
        else:
            try:
                await asyncio.wait_for(send(), self.timeout_s)
            except TimeoutError:
                outcome, error = Outcome.FAILED, f"timed out after {self.timeout_s:g} s"
            except BrokerError as exc:
                outcome, error = Outcome.FAILED, str(exc) or type(exc).__name__
            except Exception as exc:  # an adapter bug must not stop the engine either
                outcome, error = Outcome.FAILED, f"{type(exc).__name__}: {exc}"
        done_ns = time.monotonic_ns()
        latency = (done_ns - firing.received_ns) / 1e6 if send is not None else None
        record = EnforcementRecord(
            timestamp=firing.ts,
            account_id=self.state.account_id,
            rule_name=firing.rule_id,
            action=action,
            reason=firing.message,
            values=dict(firing.values),
            target=target,
            event_received_ts=wall_of(firing.received_ns),
            action_sent_ts=wall_of(sent_ns) if send is not None else None,
            latency_ms=latency,
            outcome=outcome,
            error=error,
            severity=firing.severity,
            shown=dict(firing.shown),
        )
        await self._finish(record)
        return record

    async def _finish(self, record: EnforcementRecord) -> None:
        if record.outcome is Outcome.FAILED:
            log.critical(
                "enforcement failed: rule %s %s %s: %s",
                record.rule_name,
                record.action,
                record.target,
                record.error,
            )
            self.notifier.alert(
                "critical",
                "enforcement failed",
                f"rule {record.rule_name}: {record.action} {record.target} failed: {record.error}",
                {"rule": record.rule_name, "action": record.action, "target": record.target},
            )
        elif record.outcome is Outcome.OK:
            log.warning("enforced: rule %s %s %s", record.rule_name, record.action, record.target)
            if record.latency_ms is not None:
                self.metrics.enforcement(record.latency_ms)
        await self.save(record)

    async def save(self, record: EnforcementRecord) -> None:
        try:
            await self.store.record_enforcement(record)
        except StoreError as exc:
            log.critical("could not record enforcement: %s", exc)
            self.notifier.alert("critical", "state store failure", str(exc), {})

    # ---- actions -----------------------------------------------------------------------------
    async def close(self, firing: Firing, contract_id: str, action: str) -> EnforcementRecord:
        if contract_id not in self.state.positions:
            return await self.call(firing, action, contract_id, None, "no open position")
        if contract_id in self.closing:
            return await self.call(firing, action, contract_id, None, "close already in flight")
        sent = self.closed.get(contract_id)
        if sent is not None and time.monotonic_ns() - sent < RECENT_CLOSE_NS:
            return await self.call(firing, action, contract_id, None, "close already sent")
        self.closing.add(contract_id)
        # marked before sending: the broker may report the position flat while the call is
        # still returning (the SDK re-reads the position for ~100 ms), and that report must
        # clear the mark, or a position reopened right after would not be closed for 2 s
        self.closed[contract_id] = time.monotonic_ns()
        try:
            record = await self.call(
                firing, action, contract_id, lambda: self.broker.close_position(contract_id)
            )
        finally:
            self.closing.discard(contract_id)
        if record.outcome is not Outcome.OK:
            self.closed.pop(contract_id, None)
        return record

    def close_sent(self, contract_id: str) -> bool:
        """A close of the position is in flight or was accepted and not yet reported."""
        sent = self.closed.get(contract_id)
        recent = sent is not None and time.monotonic_ns() - sent < RECENT_CLOSE_NS
        return contract_id in self.closing or recent

    def position_reported(self, contract_id: str) -> None:
        """The broker reported the position flat: a later close is of a new position.

        Also when the close call has not returned yet (the SDK re-reads the position
        after sending it): that close is done, a re-entry needs a close of its own.
        """
        self.closed.pop(contract_id, None)
        self.closing.discard(contract_id)

    async def reduce(self, firing: Firing, pos: Position, to: int) -> EnforcementRecord:
        label = f"reduce_position(to={to})"
        if pos.size <= to:
            return await self.call(firing, label, pos.contract_id, None, f"size {pos.size}")
        if pos.contract_id in self.closing:
            return await self.call(firing, label, pos.contract_id, None, "close in flight")
        cid, size = pos.contract_id, pos.size - to
        self.closing.add(cid)
        try:
            return await self.call(firing, label, cid, lambda: self.broker.partial_close(cid, size))
        finally:
            self.closing.discard(cid)

    async def cancel(self, firing: Firing, order_id: int, action: str) -> EnforcementRecord:
        return await self.call(
            firing, action, f"order:{order_id}", lambda: self.broker.cancel_order(order_id)
        )

    async def flatten(
        self, firing: Firing, action: str, symbol: str | None = None, *, record_flat: bool = True
    ) -> list[EnforcementRecord]:
        """Close every position (of `symbol`) and cancel every working order, concurrently.

        Already flat: a "skipped" record, unless `record_flat` is False (a lockout's own
        flatten: the lockout's record already says it was set; a second one would confuse).
        """
        st = self.state
        closes = [c for c, p in st.positions.items() if symbol is None or p.symbol == symbol]
        orders = [i for i, o in st.orders.items() if symbol is None or o.symbol == symbol]
        jobs = [self.close(firing, c, action) for c in closes]
        jobs += [self.cancel(firing, i, action) for i in orders]
        if not jobs:
            if not record_flat:
                return []
            return [await self.call(firing, action, symbol or "account", None, "already flat")]
        return list(await asyncio.gather(*jobs))

    async def protect(
        self, firing: Firing, pos: Position, action: str, stop: Decimal
    ) -> EnforcementRecord:
        """Place a stop at `stop`, or move the existing one there if that tightens it."""
        existing = _stops(self.state, pos)
        if existing:
            best = max(existing, key=lambda o: _tightness(pos, o))
            price = best.event.stop_price
            if price is not None and _tighter_or_equal(pos, price, stop):
                return await self.call(
                    firing, action, pos.contract_id, None, f"existing stop {price} is not looser"
                )
            oid = best.id
            return await self.call(
                firing,
                action,
                pos.contract_id,
                lambda: self.broker.modify_order(oid, stop_price=stop),
            )
        req = OrderRequest(
            pos.contract_id,
            OrderType.STOP,
            pos.closing_side,
            pos.size,
            stop_price=stop,
            custom_tag=STOP_TAG,
        )
        return await self.call(
            firing, action, pos.contract_id, lambda: self.broker.place_order(req)
        )

    async def target(
        self, firing: Firing, pos: Position, action: str, price: Decimal
    ) -> EnforcementRecord:
        for o in self.state.orders.values():
            ev = o.event
            if (
                ev.contract_id == pos.contract_id
                and ev.type is OrderType.LIMIT
                and (ev.side is pos.closing_side)
            ):
                return await self.call(firing, action, pos.contract_id, None, "a target exists")
        req = OrderRequest(
            pos.contract_id,
            OrderType.LIMIT,
            pos.closing_side,
            pos.size,
            limit_price=price,
            custom_tag=TARGET_TAG,
        )
        return await self.call(
            firing, action, pos.contract_id, lambda: self.broker.place_order(req)
        )

    def alert(self, firing: Firing) -> None:
        self.notifier.alert(
            firing.severity, f"rule {firing.rule_id}", firing.message, dict(firing.values)
        )


def _stops(state: AccountState, pos: Position) -> list[Order]:
    return [
        o
        for o in state.orders.values()
        if o.contract_id == pos.contract_id
        and o.event.side is pos.closing_side
        and o.event.type.is_stop
    ]


def _tightness(pos: Position, order: Order) -> Decimal:
    price = order.event.stop_price
    if price is None:
        return Decimal("-Infinity")
    return price if pos.long else -price


def _tighter_or_equal(pos: Position, existing: Decimal, wanted: Decimal) -> bool:
    """A long's stop is tighter when higher, a short's when lower."""
    return existing >= wanted if pos.long else existing <= wanted
