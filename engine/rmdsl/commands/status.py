"""`rmdsl status`: the state database -> today's P&L, lockouts, timers, ruleset and the six metrics.

Read-only (safe while the daemon writes). `--format json` for scripts,
`--watch N` to refresh every N seconds until Ctrl-C. Exit 2 when there is no
state database to read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmdsl.commands import add_state_argument
from rmdsl.commands.accounts import UnknownAccount, pick_account
from rmdsl.commands.daemon_state import daemon_state
from rmdsl.commands.status_account import mll_data
from rmdsl.commands.status_render import STATS, render_status

if TYPE_CHECKING:
    from rmdsl.engine.persistence import AccountStateRecord, LockoutRecord
    from rmdsl.store import SqliteStore
    from rmdsl.store.queries import RulesetVersionEntry

HELP = "show lockouts, timers, today's P&L, the ruleset and the performance metrics"

# name, label, unit, target (p95, or p50 below 100 samples), alert when max exceeds
METRICS: tuple[tuple[str, str, str, float, float], ...] = (
    ("enforcement_latency_ms", "enforcement latency", "ms", 500, 1000),
    ("event_processing_ms", "event processing", "ms", 10, 50),
    ("rss_mb", "memory (RSS)", "MB", 100, 200),
    ("reconciliation_ms", "reconciliation", "ms", 5000, 10000),
    ("queue_depth", "queue depth", "", 100, 1000),
    ("rule_evaluation_ms", "rule evaluation", "ms", 5, 20),
)


def add_state_arguments(parser: argparse.ArgumentParser) -> None:
    """The options `status` and `history` share."""
    add_state_argument(parser)
    parser.add_argument(
        "--account",
        metavar="NAME",
        help="the account's name, as `rmdsl run --account` takes it (or its numeric id); "
        "default: every account of the database (status: one line each and the fleet's "
        "totals; one account alone is shown in full)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--watch", type=float, metavar="SECONDS", help="refresh every SECONDS until Ctrl-C"
    )
    parser.add_argument("--watch-count", type=int, metavar="N", help=argparse.SUPPRESS)
    # the instant "now" is (tests: a database written at a fixed date); default the wall clock
    parser.add_argument("--now", type=_instant, help=argparse.SUPPRESS)
    parser.add_argument(
        "--tz",
        type=zone_name,
        metavar="ZONE",
        help="show times in ZONE, e.g. America/Chicago (default: the ruleset's timezone, "
        "else local time); --format json is always UTC",
    )


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def now_of(args: argparse.Namespace) -> dt.datetime:
    return getattr(args, "now", None) or dt.datetime.now(dt.UTC)


def zone_name(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a timezone: use an IANA name like America/Chicago or UTC"
        ) from None
    return text


async def display_zone(store: SqliteStore, wanted: str | None) -> str | None:
    """--tz, else the timezone the active ruleset was recorded with, else None (local)."""
    if wanted:
        return wanted
    version = await store.last_ruleset_version()
    return version.timezone if version is not None and version.timezone else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_state_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_reader(args, lambda store: _status(store, args), render_status)


def run_reader(
    args: argparse.Namespace,
    read: Callable[[SqliteStore], Awaitable[dict[str, Any]]],
    render: Callable[[dict[str, Any]], str],
) -> int:
    """Open the database read-only, read, print; again every --watch seconds."""
    import asyncio

    from rmdsl.store.db import default_path

    path = Path(args.state).expanduser() if args.state else default_path()
    if not path.is_file():
        print(
            f"rmdsl: error: no state database at {path}\n"
            "help: it is written by `rmdsl run` (or `rmdsl demo --state PATH`); "
            "pass --state PATH to read another one",
            file=sys.stderr,
        )
        return 2
    if args.watch is not None and args.watch <= 0:
        print("rmdsl: error: --watch needs a positive number of seconds", file=sys.stderr)
        return 2
    return asyncio.run(_loop(args, path, read, render))


async def _loop(
    args: argparse.Namespace,
    path: Path,
    read: Callable[[SqliteStore], Awaitable[dict[str, Any]]],
    render: Callable[[dict[str, Any]], str],
) -> int:
    import asyncio

    from rmdsl.errors import StoreError
    from rmdsl.store import SqliteStore

    shown = 0
    while True:
        try:
            async with SqliteStore(path, readonly=True) as store:
                data = await read(store)
        except (StoreError, UnknownAccount) as exc:
            print(f"rmdsl: error: {exc}", file=sys.stderr)
            return 2
        if args.watch is not None and shown and sys.stdout.isatty():
            print("\x1b[2J\x1b[H", end="")  # a terminal: redraw in place
        text = json.dumps(data, default=json_default) if args.format == "json" else render(data)
        print(text, flush=True)
        shown += 1
        if args.watch is None or (args.watch_count is not None and shown >= args.watch_count):
            return 0
        await asyncio.sleep(args.watch)


def json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)  # Decimal money stays exact as a string


async def _status(store: SqliteStore, args: argparse.Namespace) -> dict[str, Any]:
    if args.account is None:  # several accounts: a line each (rmdsl.commands.fleet_status)
        from rmdsl.commands.fleet_status import fleet_status

        fleet = await fleet_status(store, now_of(args))
        if fleet is not None:
            return fleet
    account_id = await pick_account(store, args.account)
    day = await store.account_state(account_id) if account_id is not None else None
    known = account_id is not None
    return {
        "database": str(store.path),
        "timezone": await display_zone(store, args.tz),
        "account": None
        if day is None
        else {"id": day.account_id, "name": day.account_name, "balance": day.balance},
        "daemon": await daemon_state(store, account_id),
        "mll": mll_data(day),
        "trading_day": day.trading_day.isoformat() if day else None,
        "updated_at": day.updated_at if day else None,
        "pnl": _pnl(day),
        "positions": [
            {"symbol": p.symbol, "side": p.side, "size": p.quantity, "entry": p.entry_price}
            for p in (await store.positions(account_id) if account_id is not None else [])
        ],
        **_lockouts(await store.active_lockouts(account_id) if known else [], now_of(args)),
        "timers": [
            {"rule": t.rule_id, "entity": t.entity, "started": t.started_at, "deadline": t.deadline}
            for t in await store.timers(account_id)
        ],
        **_rulesets(await store.ruleset_versions(limit=20)),
        "metrics": await metrics(store),
        "rule_errors": await rule_errors(store, account_id, day.last_reset if day else None),
        # loosened params that wait for the reset (rmdsl.engine.params: the engine's own words)
        "params_waiting": [str(w) for w in (day.params.get("waiting", []) if day else [])],
    }


def _pnl(day: AccountStateRecord | None) -> dict[str, Any] | None:
    if day is None:
        return None
    return {
        "realized": day.realized_pnl,
        "unrealized": day.unrealized_pnl,
        "trades": day.trades,
        "wins": day.wins,
        "losses": day.losses,
    }


def _lockouts(lockouts: list[LockoutRecord], now: dt.datetime) -> dict[str, Any]:
    """The lockouts in force; the daemon lifts a lockout when it runs past its end, so one
    it did not see end (no daemon ran) is over, and only counted."""
    expired = [lk for lk in lockouts if lk.until_ts is not None and lk.until_ts <= now]
    return {
        "lockouts": [
            {
                "rule": lk.rule_id,
                "kind": str(lk.kind),
                "scope": lk.symbol or "account",
                "until": lk.until_ts,
                "until_kind": str(lk.until_kind),
                "since": lk.created_at,
                "reason": lk.reason,
            }
            for lk in lockouts
            if lk not in expired
        ],
        "expired_lockouts": len(expired),
    }


def _rulesets(versions: list[RulesetVersionEntry]) -> dict[str, Any]:
    """The active ruleset, and the reloads refused since it was loaded."""
    active = next((v for v in versions if v.status == "active"), None)
    newest_active = active.version.loaded_at if active else None
    return {
        "ruleset": None
        if active is None
        else {
            "name": active.version.name,
            "digest": active.version.digest[:12],
            "path": active.version.path,
            "loaded_at": active.version.loaded_at,
        },
        "reload_errors": [
            {"at": v.version.loaded_at, "path": v.version.path, "error": v.error}
            for v in versions
            if v.status == "rejected"
            and (newest_active is None or v.version.loaded_at >= newest_active)
        ],
    }


async def rule_errors(
    store: SqliteStore, account_id: int | None, since: dt.datetime | None
) -> list[dict[str, Any]]:
    """Today's rule evaluation errors, one entry per rule and part (docs/engine.md, "When a
    rule errors"): the engine records them in enforcement_history with outcome `error`, at
    most once a minute per rule, each with the count of errors it stands for."""
    from rmdsl.store.codec import ts_in, ts_out

    if account_id is None:
        return []
    sql = (
        "SELECT rule_name, action, timestamp, error, values_json FROM enforcement_history "
        "WHERE outcome = 'error' AND account_id = ?"
    )
    params: tuple[object, ...] = (account_id,)
    if since is not None:
        sql, params = sql + " AND timestamp >= ?", (account_id, ts_out(since))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in await store.fetch(sql + " ORDER BY timestamp, id", params):
        values = json.loads(row["values_json"] or "{}")
        entry = out.setdefault(
            (str(row["rule_name"]), str(row["action"])),
            {"rule": row["rule_name"], "part": row["action"], "count": 0, "first": None},
        )
        entry["count"] += int(values.get("count", 1))
        entry["first"] = entry["first"] or ts_in(row["timestamp"])
        entry["last"] = ts_in(row["timestamp"])
        entry["where"], entry["error"] = values.get("where", ""), row["error"]
    return list(out.values())


async def metrics(store: SqliteStore) -> list[dict[str, Any]]:
    """The latest summary the daemon recorded of each metric, with its target and alert state."""
    rows = await store.fetch(
        "SELECT name, label, value, ts FROM metrics "
        "WHERE id IN (SELECT MAX(id) FROM metrics GROUP BY name, label)"
    )
    latest: dict[str, dict[str, dict[str, float]]] = {}
    for row in rows:
        name, _, stat = str(row["name"]).rpartition(".")
        latest.setdefault(name, {}).setdefault(str(row["label"]), {})[stat] = float(row["value"])
    out = []
    for name, label, unit, target, alert in METRICS:
        by_label = latest.get(name, {})
        worst = max(by_label, key=lambda k: by_label[k].get("max", 0.0), default=None)
        stats = by_label.get(worst, {}) if worst is not None else {}
        out.append(
            {
                "metric": name,
                "label": label,
                "unit": unit,
                "worst_rule": worst or None,
                **{s: stats.get(s) for s in STATS},
                "target": target,
                "alert_above": alert,
                "state": _state(stats, target, alert),
            }
        )
    return out


def _state(stats: dict[str, float], target: float, alert: float) -> str:
    if not stats:
        return "no data"
    if stats.get("max", 0.0) > alert:
        return "ALERT"
    typical = stats.get("p95", stats.get("p50", 0.0))  # p95 is recorded from 100 samples on
    return "over target" if typical > target else "ok"
