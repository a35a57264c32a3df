"""`rmdsl history`: the state database -> recent enforcement actions, newest first.

Each line: when, the rule, the action and its target, the outcome, the
latency, then the rule's message and the values that made it fire; on a
database of several accounts without `--account`, every account's, each line
naming its account. Filters
--limit, --since, --rule; `--format json` and `--watch` as for `rmdsl status`.
`--since` reads `2h`, `90m`, `today`, `yesterday` or a date / date-time, on the
clock the times are shown in (--tz, else the ruleset's timezone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import TYPE_CHECKING, Any

from rmdsl.lang.literals import read_duration

if TYPE_CHECKING:
    from rmdsl.store import SqliteStore

HELP = "show recent enforcement actions: rule, action, outcome, latency and values"
_AGO = re.compile(r"^(\d+)\s*(s|sec|secs|m|min|mins|h|hr|hrs|hours?|d|days?)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DAYS = {"today": 0, "yesterday": 1}


def parse_since(text: str, zone: str | None = None, now: dt.datetime | None = None) -> dt.datetime:
    """`30m`, `2h`, `1d` (ago), `today` / `yesterday` (from midnight), or an ISO date or
    date-time: on the clock of `zone` (None: local) when it names no offset. UTC result."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone) if zone else None
    now = now or dt.datetime.now(dt.UTC)
    word = text.strip().lower()
    found = _AGO.match(word)
    if found:
        return now - dt.timedelta(**{_UNITS[found[2][0]]: int(found[1])})
    ago = read_duration(word)  # a duration as rules write it: 1h30m
    if ago is not None:
        return now - dt.timedelta(milliseconds=ago)
    if word in _DAYS:
        day = now.astimezone(tz).date() - dt.timedelta(days=_DAYS[word])
        return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    try:
        ts = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 30m, 2h, 1d, today, yesterday or 2026-11-24T09:30"
        ) from None
    return (ts.replace(tzinfo=tz) if ts.tzinfo is None else ts).astimezone(dt.UTC)


def since_arg(text: str) -> str:
    """Checked now, read later: a date means midnight on the clock times are shown in."""
    parse_since(text)
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rmdsl.commands.status import add_state_arguments

    add_state_arguments(parser)
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument(
        "--since",
        type=since_arg,
        metavar="WHEN",
        help="2h, 30m, 1d ago; today; yesterday; or a date / date-time such as 2026-11-24T09:30 "
        "(on the clock times are shown in)",
    )
    parser.add_argument("--rule", metavar="ID", help="only this rule's actions")


def run(args: argparse.Namespace) -> int:
    from rmdsl.commands.status import run_reader

    if args.limit <= 0:
        print("rmdsl history: error: --limit must be positive", file=sys.stderr)
        return 2
    return run_reader(args, lambda store: _history(store, args), render_history)


async def _history(store: SqliteStore, args: argparse.Namespace) -> dict[str, Any]:
    from rmdsl.commands.accounts import pick_account
    from rmdsl.commands.status import display_zone, now_of
    from rmdsl.lang.format import shown_values
    from rmdsl.store import rows

    account_id = await pick_account(store, args.account)
    names = await fleet_names(store) if args.account is None else {}
    zone = await display_zone(store, args.tz)
    since = parse_since(args.since, zone, now_of(args)) if args.since is not None else None
    where, params = _where(None if len(names) > 1 else account_id, since, args.rule)
    found = await store.fetch(  # `*`: a database at an older schema has fewer columns
        f"SELECT * FROM enforcement_history WHERE {where} ORDER BY timestamp DESC, id DESC LIMIT ?",
        (*params, args.limit),
    )
    records = [rows.ENFORCEMENTS.record(r) for r in found]
    return {
        "database": str(store.path),
        "timezone": zone,
        "account_id": account_id if len(names) < 2 else None,
        "enforcements": [
            {
                "time": r.timestamp,
                # several accounts in the database and no --account: each line names its own
                **(
                    {"account": names.get(r.account_id, str(r.account_id))}
                    if len(names) > 1
                    else {}
                ),
                "rule": r.rule_name,
                "action": r.action,
                "target": r.target,
                "outcome": str(r.outcome),
                "latency_ms": r.latency_ms,
                # a skip's `error` is why nothing was sent, not a failure
                "error": r.error if r.outcome != "skipped" else None,
                "skipped": r.error if r.outcome == "skipped" else None,
                "reason": r.reason,
                "values": dict(r.values),
                "shown": shown_values(r.values, r.shown),
            }
            for r in records
        ],
    }


def _where(
    account_id: int | None, since: dt.datetime | None, rule: str | None
) -> tuple[str, list[object]]:
    """The filters: one account (None: every account), since when, one rule."""
    from rmdsl.store.codec import ts_out

    where, params = ("account_id = ?", list[object]([account_id])) if account_id else ("1 = 1", [])
    if since is not None:
        where += " AND timestamp >= ?"
        params.append(ts_out(since))
    if rule:
        where += " AND rule_name = ?"
        params.append(rule)
    return where, params


async def fleet_names(store: SqliteStore) -> dict[int, str]:
    """Account id -> its name (its id when it has none), for every account of the database."""
    found = await store.fetch(
        "SELECT account_id, account_name FROM account_state ORDER BY trading_day"
    )
    return {int(r[0]): str(r[1] or r[0]) for r in found}


def render_history(data: dict[str, Any]) -> str:
    from rmdsl.commands.status_render import fmt_ts

    found = data["enforcements"]
    if not found:
        return f"no enforcement recorded in {data['database']} (for these filters)"
    rows = [
        (
            fmt_ts(e["time"], data["timezone"]),
            *([e["account"]] if "account" in e else []),
            e["rule"],
            e["action"],
            e["target"] or "-",
            e["outcome"],
            "-" if e["latency_ms"] is None else f"{e['latency_ms']:.1f} ms",
        )
        for e in found
    ]
    # columns as wide as their longest cell (a long rule name or action must not run
    # into the next column), two spaces apart
    heads = ("time", *(("account",) if "account" in found[0] else ()), "rule", "action")
    heads += ("target", "outcome", "latency")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]

    def line(cells: tuple[str, ...]) -> str:
        left = "  ".join(f"{c:<{w}}" for c, w in zip(cells[:-1], widths[:-1], strict=True))
        return f"{left}  {cells[-1]:>{widths[-1]}}"

    lines = [line(heads)]
    for e, row in zip(found, rows, strict=True):
        lines.append(line(row))
        if e["reason"]:
            lines.append(f"    message: {e['reason']}")
        values = ", ".join(f"{k} = {v}" for k, v in e["shown"].items())
        if values:
            lines.append(f"    values: {values}")
        if e.get("skipped"):
            lines.append(f"    skipped: {e['skipped']}")
        if e["error"]:
            lines.append(f"    error: {e['error']}")
    return "\n".join(lines)
