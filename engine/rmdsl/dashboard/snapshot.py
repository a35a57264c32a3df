"""The daemon's state now, as the JSON the page renders (and /healthz reads).

Built from the engine's in-memory state only: no store read, no await, so
taking one costs the event loop a fraction of a millisecond, and the
dashboard takes one at most every few hundred ms, only while a page is open.
Money is sent both as the language writes it ("-$200.00") and as a number
for the bars; instants are ISO UTC, the page shows them in `timezone`.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.dashboard.limits import LimitSpec, limit_rows, limit_specs
from rmdsl.engine.lockouts import is_pause
from rmdsl.engine.persistence import EnforcementRecord, LockoutRecord, TimerRecord
from rmdsl.lang.format import format_value, shown_values
from rmdsl.lang.types import MONEY
from rmdsl.rules.model import NoStopLossGrace, Ruleset

if TYPE_CHECKING:
    from rmdsl.daemon import Daemon
    from rmdsl.engine.core import Engine

_STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})
SHOWN = 50  # the newest enforcement records on the page


def money(value: Decimal) -> dict[str, Any]:
    return {"text": format_value(value, MONEY), "value": float(value)}


def iso(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(dt.UTC).isoformat()


class Snapshots:
    """Builds snapshots; remembers the limits of the ruleset in force (parsed once each)."""

    def __init__(self, daemon: Daemon, feed: DaemonFeed) -> None:
        self.daemon, self.feed = daemon, feed
        self._specs: tuple[str, tuple[LimitSpec, ...]] = ("", ())
        self._history_text: tuple[int, str] = (-1, "[]")  # (feed version, JSON)

    def text(self) -> str:
        """The snapshot as compact JSON; the history part is re-encoded only when it moved."""
        body = json.dumps(self.take(history=False), separators=(",", ":"))
        if self._history_text[0] != self.feed.version:
            encoded = json.dumps(self._history(), separators=(",", ":"))
            self._history_text = (self.feed.version, encoded)
        return f'{body[:-1]},"history":{self._history_text[1]}}}'

    def _limits_of(self, ruleset: Ruleset) -> tuple[LimitSpec, ...]:
        if self._specs[0] != ruleset.digest:
            self._specs = (ruleset.digest, limit_specs(ruleset))
        return self._specs[1]

    def health(self) -> dict[str, Any]:
        d = self.daemon
        running = d.engine is not None and not d.stopping
        return {
            "running": running,
            "reconciled": bool(running and d.reconciled),
            "unreconciled_since": iso(d.unreconciled_since),
        }

    def take(self, history: bool = True) -> dict[str, Any]:
        engine = self.daemon.engine
        out: dict[str, Any] = {"health": self.health()}
        if history:
            out["history"] = self._history()
        out["reload"] = self._reload()
        if engine is None:
            return out | {"now": iso(dt.datetime.now(dt.UTC)), "engine": None}
        st, ruleset = engine.state, engine.ruleset
        day = st.ctx.day
        out |= {
            "now": iso(self.daemon.clock()),
            "timezone": ruleset.timezone.key,
            "account": {"id": st.account_id, "name": st.ctx.account.name},
            "trading_day": None if engine.trading_day is None else engine.trading_day.isoformat(),
            "ruleset": {
                "name": ruleset.name,
                "version": ruleset.digest[:12],
                "path": ruleset.path,
            },
            "pnl": {
                "net": money(day.pnl),
                "realized": money(day.realized_pnl),
                "unrealized": money(day.unrealized_pnl),
                "trades": day.trades,
                "wins": day.wins,
                "losses": day.losses,
            },
            "limits": [
                r
                | {"limit": money(r["limit"]), "value": money(r["value"]), "room": money(r["room"])}
                for r in limit_rows(self._limits_of(ruleset), ruleset, st.ctx)
            ],
            "lockouts": [_lockout(lk) for lk in engine.lockouts.active.values()],
            "positions": _positions(engine),
            "timers": [
                _timer(t)
                for t in engine.evaluator.timers.running.values()
                if t.rule_id != NoStopLossGrace.ID
            ],
        }
        return out

    def _history(self) -> list[dict[str, Any]]:
        records = self.feed.records
        return [_record(records[-i]) for i in range(1, min(SHOWN, len(records)) + 1)]

    def _reload(self) -> dict[str, Any] | None:
        r = self.feed.reload
        if r is None:
            return None
        return {"at": iso(r.at), "ok": r.ok, "version": r.digest[:12], "errors": list(r.errors)}


def _lockout(lk: LockoutRecord) -> dict[str, Any]:
    return {
        "rule": lk.rule_id,
        "kind": "pause" if is_pause(lk) else str(lk.kind),
        "scope": lk.symbol or "account",
        "until": iso(lk.until_ts),
        "until_kind": str(lk.until_kind),
        "since": iso(lk.created_at),
        "reason": lk.reason,
    }


def _timer(t: TimerRecord) -> dict[str, Any]:
    return {
        "rule": t.rule_id,
        "entity": t.entity,
        "started": iso(t.started_at),
        "deadline": iso(t.deadline),
    }


def _positions(engine: Engine) -> list[dict[str, Any]]:
    st = engine.state
    timers = engine.evaluator.timers.running
    out = []
    for pos in st.positions.values():
        stops = sorted(
            str(o.view.stop_price)
            for o in st.orders.values()
            if o.contract_id == pos.contract_id and o.view.type in _STOP_TYPES
        )
        grace = next(
            (
                t
                for t in timers.values()
                if t.rule_id == NoStopLossGrace.ID and t.entity == pos.contract_id
            ),
            None,
        )
        out.append(
            {
                "symbol": pos.symbol,
                "contract": pos.contract_id,
                "side": "long" if pos.long else "short",
                "size": pos.size,
                "avg_price": str(pos.avg_price),
                "unrealized": money(pos.view.unrealized_pnl),
                "stops": stops,
                "grace_deadline": None if grace is None else iso(grace.deadline),
            }
        )
    return out


def _record(r: EnforcementRecord) -> dict[str, Any]:
    return {
        "time": iso(r.timestamp),
        "rule": r.rule_name,
        "action": r.action,
        "target": r.target,
        "outcome": str(r.outcome),
        "latency_ms": r.latency_ms,
        "message": r.reason,
        "error": r.error,
        "why": shown_values(r.values, r.shown),
    }
