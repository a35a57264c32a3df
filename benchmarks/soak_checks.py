"""Repeated enforcement, judged after the fact from the gateway's request log and the state DB.

From the answers the gateway gave the daemon's requests (every REST request of
the soak comes from a daemon: the trader acts in process):

- `close_of_flat`: a close or partial close the gateway refused because the
  position was already flat (or smaller): made so by the daemon's own earlier
  close, however recently, or by anything else longer ago than the race window
  (within it the trader's own close may have crossed the daemon's);
- `over_reduce`: an accepted partial close of MNQ that was not over the limit;
- `cancel_of_gone`: a cancel of an order the daemon had already cancelled
  itself, or that was filled or cancelled longer ago than the race window.
  A refused cancel of a market order (a close order the daemon saw open an
  instant before its fill) is only counted.

From the state database (opened read-only, beside the running daemon):

- `duplicate_lockout`: more lockout rows of a rule than the tape has reasons
  for (one daily loss lockout; one cooldown per losing fill at most);
- `lockout_not_recorded` (an unenforced breach): the daily loss was reached
  and the database holds no active daily loss lockout.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rmdsl.broker.simgateway import AnswerRecord, SimGateway
from rmdsl.broker.simgateway.positions import TradeRecord
from rmdsl.contract.events import OrderType, Side
from soak_oracle import SoakRules, account_trades, locks

CLOSE_PATHS = ("/Position/closeContract", "/Position/partialCloseContract")
DAILY_RULE = "daily_realized_loss"
ClockAt = Callable[[int], dt.datetime]  # monotonic_ns -> the gateway clock
SLACK = dt.timedelta(milliseconds=1)  # the gateway clock and clock_at differ by microseconds
COOLDOWN_RULE = "losing_trade_cooldown"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    detail: str


@dataclass
class RequestTally:
    """The daemon's enforcement requests as the gateway answered them."""

    closes_ok: int = 0
    closes_refused: int = 0
    cancels_ok: int = 0
    cancels_refused: int = 0
    races: int = 0  # refused within the race window, the trader's (or a fill's) doing
    market_cancels: int = 0  # refused cancels of market orders (filled as they were accepted)
    errors: int = 0  # an HTTP error status (no fault is injected in the soak)


def _net_before(trades: list[TradeRecord], contract: str, trade_id: int) -> int:
    net = 0
    for t in trades:
        if t.contract_id != contract:
            continue
        if t.payload["id"] == trade_id:
            return net
        size = int(t.payload["size"])
        net += size if t.payload["side"] == int(Side.BUY) else -size
    return net


def clock_anchor(now: Callable[[], dt.datetime]) -> tuple[int, dt.datetime]:
    """A monotonic_ns instant and the gateway clock's reading at it, for `clock_at`.

    Why: the close's fill is found within SLACK (1 ms) of its request; two plain reads one
    after the other can be milliseconds apart on a loaded machine (the process preempted
    between them), which hid a repeated close. The reading is bracketed by two monotonic
    reads and taken again until they are within 0.1 ms, the anchor their midpoint."""
    best: tuple[int, int, dt.datetime] | None = None
    for _ in range(1000):
        before = time.monotonic_ns()
        reading = now()
        gap = time.monotonic_ns() - before
        if best is None or gap < best[0]:
            best = (gap, before + gap // 2, reading)
        if gap < 100_000:
            break
    assert best is not None
    return best[1], best[2]


def _last_fill(trades: list[TradeRecord], contract: str, before: dt.datetime) -> TradeRecord | None:
    fills = [t for t in trades if t.contract_id == contract and t.at <= before]
    return fills[-1] if fills else None


class RequestChecker:
    """Scans the answers sent to one account's daemon since the last scan."""

    def __init__(
        self, gw: SimGateway, account_id: int, rules: SoakRules, race_s: float, clock_at: ClockAt
    ) -> None:
        self.gw, self.account_id, self.rules = gw, account_id, rules
        self.race = dt.timedelta(seconds=race_s)
        self.clock_at = clock_at
        self.tally = RequestTally()
        self._seen = 0
        self._closing_orders: set[int] = set()  # order ids of the daemon's accepted closes
        self._cancelled: set[int] = set()  # order ids the daemon cancelled (accepted)

    def scan(self) -> list[Finding]:
        answers = self.gw.requests.answers
        fresh, self._seen = answers[self._seen :], len(answers)
        trades = account_trades(self.gw, self.account_id)
        found: list[Finding] = []
        for answer in fresh:
            body = answer.request.body
            if not isinstance(body, dict) or body.get("accountId") != self.account_id:
                continue
            if answer.request.path in CLOSE_PATHS:
                found.extend(self._close(answer, body, trades))
            elif answer.request.path == "/Order/cancel":
                found.extend(self._cancel(answer, body))
        return found

    def _close(
        self, answer: AnswerRecord, body: dict[str, object], trades: list[TradeRecord]
    ) -> list[Finding]:
        contract = self.gw.market.resolve_contract(str(body["contractId"])).contract_id
        reply = answer.body if isinstance(answer.body, dict) else {}
        if answer.status != 200:
            self.tally.errors += 1
            return []
        if reply.get("success"):
            self.tally.closes_ok += 1
            fill = self._fill_of(answer, contract, trades)
            if fill is None:
                return []
            self._closing_orders.add(int(fill.payload["orderId"]))
            if answer.request.path.endswith("partialCloseContract"):
                return self._reduce(fill, contract, trades)
            return []
        self.tally.closes_refused += 1
        sent = self.clock_at(answer.request.received_ns)
        last = _last_fill(trades, contract, sent)
        since = sent if last is None else last.at
        own = last is not None and last.payload["orderId"] in self._closing_orders
        if sent - since < self.race and not own:
            self.tally.races += 1
            return []
        what = "partial close" if "partial" in answer.request.path else "close"
        by = "a close of the daemon's own" if own else "its last fill"
        return [
            Finding(
                "close_of_flat",
                f"{what} of {contract} refused ({reply.get('errorMessage')}): {by} was "
                f"{(sent - since).total_seconds():.2f} s before",
            )
        ]

    def _fill_of(
        self, answer: AnswerRecord, contract: str, trades: list[TradeRecord]
    ) -> TradeRecord | None:
        """The fill an accepted close made: the gateway answers a close without an order id,
        but it fills the close while it serves the request (one synchronous step)."""
        lo = self.clock_at(answer.request.received_ns) - SLACK
        hi = self.clock_at(answer.answered_ns) + SLACK
        made = [t for t in trades if t.contract_id == contract and lo <= t.at <= hi]
        return made[-1] if made else None

    def _reduce(self, fill: TradeRecord, contract: str, trades: list[TradeRecord]) -> list[Finding]:
        before = _net_before(trades, contract, int(fill.payload["id"]))
        if abs(before) > self.rules.max_mnq:
            return []
        return [
            Finding(
                "over_reduce",
                f"partial close of {fill.payload['size']} {contract} at {before:+d} "
                f"(limit {self.rules.max_mnq})",
            )
        ]

    def _cancel(self, answer: AnswerRecord, body: dict[str, object]) -> list[Finding]:
        reply = answer.body if isinstance(answer.body, dict) else {}
        if answer.status != 200:
            self.tally.errors += 1
            return []
        order_id = int(str(body["orderId"]))
        if reply.get("success"):
            self.tally.cancels_ok += 1
            self._cancelled.add(order_id)
            return []
        self.tally.cancels_refused += 1
        order = self.gw.market.book.get(self.account_id, order_id)
        sent = self.clock_at(answer.request.received_ns)
        own = order_id in self._cancelled
        if order is None or order.status.is_working:
            self.tally.races += 1
            return []
        if order.type is OrderType.MARKET:
            self.tally.market_cancels += 1  # a close order seen open an instant before its fill
            return []
        if sent - order.updated < self.race and not own:
            self.tally.races += 1
            return []
        by = ", by the daemon's own earlier cancel" if own else ""
        return [
            Finding(
                "cancel_of_gone",
                f"cancel of order {order.id} ({order.status.name.lower()}{by} "
                f"{(sent - order.updated).total_seconds():.2f} s before)",
            )
        ]


def lockout_rows(state: Path) -> list[tuple[str, str | None, str | None]]:
    """(rule_id, until_ts, lifted_at) of every lockout row, read-only; [] before migration."""
    if not state.exists():
        return []
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT rule_id, until_ts, lifted_at FROM lockouts").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    return [(str(r[0]), r[1], r[2]) for r in rows]


def check_lockout_rows(
    gw: SimGateway, account_id: int, rules: SoakRules, state: Path
) -> list[Finding]:
    rows = lockout_rows(state)
    in_force = locks(account_trades(gw, account_id), rules)
    found: list[Finding] = []
    daily = [r for r in rows if r[0] == DAILY_RULE]
    daily_due = any(lk.kind == "daily_loss" for lk in in_force)
    if len(daily) > 1:
        found.append(Finding("duplicate_lockout", f"{len(daily)} daily loss lockout rows"))
    if daily_due and not any(r[2] is None for r in daily):
        found.append(Finding("lockout_not_recorded", "daily loss reached, no active lockout row"))
    cooldowns = [r for r in rows if r[0] == COOLDOWN_RULE]
    losing = sum(1 for lk in in_force if lk.kind == "cooldown")
    if len(cooldowns) > losing:
        found.append(
            Finding("duplicate_lockout", f"{len(cooldowns)} cooldown rows, {losing} losing fills")
        )
    return found
