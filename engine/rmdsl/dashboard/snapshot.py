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
from rmdsl.dashboard.fleet import AccountView, accounts_of, find
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
    """Builds snapshots of one account (the page's choice) with the fleet's table beside;
    remembers the limits of each ruleset in force (parsed once each)."""

    def __init__(self, daemon: Daemon, feed: DaemonFeed) -> None:
        self.daemon, self.feed = daemon, feed
        self._specs: dict[str, tuple[LimitSpec, ...]] = {}  # ruleset digest -> its limits
        self._history_text: dict[int, tuple[int, str]] = {}  # account -> (feed version, JSON)

    def text(self, account: str | None = None) -> str:
        """The snapshot as compact JSON; the history part is re-encoded only when it moved."""
        views = accounts_of(self.daemon)
        view = _pick(views, account)
        body = json.dumps(self.take(view, views), separators=(",", ":"))
        feed = view.feed if view is not None else self.feed
        key = view.account_id if view is not None else 0
        cached = self._history_text.get(key)
        if cached is None or cached[0] != feed.version:
            cached = (feed.version, json.dumps(_history(feed), separators=(",", ":")))
            self._history_text[key] = cached
        return f'{body[:-1]},"history":{cached[1]}}}'

    def _limits_of(self, ruleset: Ruleset) -> tuple[LimitSpec, ...]:
        specs = self._specs.get(ruleset.digest)
        if specs is None:
            if len(self._specs) > 64:  # rulesets replaced by reloads: forget them
                self._specs.clear()
            specs = self._specs[ruleset.digest] = limit_specs(ruleset)
        return specs

    def health(self) -> dict[str, Any]:
        """Running, and every account's decisions on reconciled state (the first account
        that is not, named, and since when)."""
        d = self.daemon
        views = accounts_of(d)
        running = bool(views) and not d.stopping
        behind = [v for v in views if v.engine is None or not v.reconciled]
        out: dict[str, Any] = {
            "running": running,
            "reconciled": running and not behind,
            "unreconciled_since": iso(behind[0].unreconciled_since) if behind else None,
        }
        if len(views) > 1:
            out["accounts"] = len(views)
            out["unreconciled"] = [v.label for v in behind]
        return out

    def take(
        self, view: AccountView | None = None, views: list[AccountView] | None = None
    ) -> dict[str, Any]:
        views = accounts_of(self.daemon) if views is None else views
        view = view if view is not None else _pick(views, None)
        feed = view.feed if view is not None else self.feed
        out: dict[str, Any] = {"health": self.health(), "reload": _reload(feed)}
        out["accounts"] = [fleet_row(v) for v in views] if len(views) > 1 else []
        engine = view.engine if view is not None else None
        if view is None or engine is None:
            return out | {"now": iso(dt.datetime.now(dt.UTC)), "engine": None}
        st, ruleset = engine.state, engine.ruleset
        day = st.ctx.day
        out |= {
            "now": iso(self.daemon.clock()),
            "timezone": ruleset.timezone.key,
            "account": {"id": st.account_id, "name": view.name or st.ctx.account.name},
            "reconciled": view.reconciled,
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


def _pick(views: list[AccountView], account: str | None) -> AccountView | None:
    """The account asked for, else the first (by name)."""
    chosen = find(views, account) if account else None
    return chosen if chosen is not None else (views[0] if views else None)


def fleet_row(v: AccountView) -> dict[str, Any]:
    """One account's line of the page's fleet table."""
    engine = v.engine
    row: dict[str, Any] = {
        "id": v.account_id,
        "name": v.label,
        "reconciled": engine is not None and v.reconciled,
        "locked": v.locked,
    }
    if engine is None:
        return row
    day = engine.state.ctx.day
    return row | {
        "pnl": money(day.pnl),
        "realized": money(day.realized_pnl),
        "trades": day.trades,
        "lockouts": len(engine.lockouts.active),
        "positions": len(engine.state.positions),
        "overdue": v.overdue_goals,
    }


def _history(feed: DaemonFeed) -> list[dict[str, Any]]:
    records = feed.records
    return [_record(records[-i]) for i in range(1, min(SHOWN, len(records)) + 1)]


def _reload(feed: DaemonFeed) -> dict[str, Any] | None:
    r = feed.reload
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
