"""`rmdsl history`: the state database -> recent enforcement actions, newest first.

Each line: when, the rule, the action and its target, the outcome, the
latency and the values that made the rule fire. Filters --limit, --since,
--rule; `--format json` and `--watch` as for `rmdsl status`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rmdsl.store import SqliteStore

HELP = "show recent enforcement actions: rule, action, outcome, latency and values"
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`30m`, `2h`, `1d` (ago) or an ISO date / date-time (UTC when no offset)."""
    now = now or dt.datetime.now(dt.UTC)
    found = _AGO.match(text.strip())
    if found:
        return now - dt.timedelta(**{_UNITS[found[2]]: int(found[1])})
    try:
        ts = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 30m, 2h, 1d or 2026-11-24T09:30"
        ) from None
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rmdsl.commands.status import add_state_arguments

    add_state_arguments(parser)
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument(
        "--since", type=parse_since, metavar="WHEN", help="30m, 2h, 1d ago, or an ISO time"
    )
    parser.add_argument("--rule", metavar="ID", help="only this rule's actions")


def run(args: argparse.Namespace) -> int:
    from rmdsl.commands.status import run_reader

    if args.limit <= 0:
        print("rmdsl history: error: --limit must be positive", file=sys.stderr)
        return 2
    return run_reader(args, lambda store: _history(store, args), render_history)


async def _history(store: SqliteStore, args: argparse.Namespace) -> dict[str, Any]:
    from rmdsl.commands.status import display_zone, pick_account
    from rmdsl.lang.format import shown_values
    from rmdsl.store import rows
    from rmdsl.store.codec import ts_out

    account_id = await pick_account(store, args.account)
    where = "account_id = ?"
    params: list[object] = [account_id]
    if args.since is not None:
        where += " AND timestamp >= ?"
        params.append(ts_out(args.since))
    if args.rule:
        where += " AND rule_name = ?"
        params.append(args.rule)
    found = await store.fetch(  # `*`: a database at an older schema has fewer columns
        f"SELECT * FROM enforcement_history WHERE {where} ORDER BY timestamp DESC, id DESC LIMIT ?",
        (*params, args.limit),
    )
    records = [rows.enforcement_record(r) for r in found]
    return {
        "database": str(store.path),
        "timezone": await display_zone(store, args.tz),
        "account_id": account_id,
        "enforcements": [
            {
                "time": r.timestamp,
                "rule": r.rule_name,
                "action": r.action,
                "target": r.target,
                "outcome": str(r.outcome),
                "latency_ms": r.latency_ms,
                "error": r.error,
                "reason": r.reason,
                "values": dict(r.values),
                "shown": shown_values(r.values, r.shown),
            }
            for r in records
        ],
    }


def render_history(data: dict[str, Any]) -> str:
    from rmdsl.commands.status import fmt_ts

    found = data["enforcements"]
    if not found:
        return f"no enforcement recorded in {data['database']} (for these filters)"
    lines = [f"{'time':<26}{'rule':<24}{'action':<26}{'target':<20}{'outcome':<9}{'latency':>10}"]
    for e in found:
        latency = "-" if e["latency_ms"] is None else f"{e['latency_ms']:.1f} ms"
        when = fmt_ts(e["time"], data["timezone"])
        lines.append(
            f"{when:<26}{e['rule']:<24}{e['action']:<26}{e['target'] or '-':<20}"
            f"{e['outcome']:<9}{latency:>10}"
        )
        values = ", ".join(f"{k} = {v}" for k, v in e["shown"].items())
        if values:
            lines.append(f"    values: {values}")
        if e["error"]:
            lines.append(f"    error: {e['error']}")
    return "\n".join(lines)
