"""`rmdsl status` on a database of several accounts: one line per account and the fleet's sum.

A daemon that supervises many accounts writes them all to one state database;
`rmdsl status` then shows each account on one line (its day, P&L, lockouts,
positions and daemon) under a summary of the fleet, and `--account NAME` shows one
account in full as before (docs/operations.md, "Status and history").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rmdsl.commands.daemon_state import daemon_state

if TYPE_CHECKING:
    from rmdsl.store import SqliteStore


async def account_ids(store: SqliteStore) -> list[int]:
    """Every account the database has a trading day of."""
    found = await store.fetch("SELECT DISTINCT account_id FROM account_state ORDER BY account_id")
    return [int(r[0]) for r in found]


async def fleet_status(store: SqliteStore, now: dt.datetime) -> dict[str, Any] | None:
    """Each account's line and the fleet's totals; None for a database of one account."""
    ids = await account_ids(store)
    if len(ids) < 2:
        return None
    lockouts = [
        lk for lk in await store.active_lockouts() if lk.until_ts is None or lk.until_ts > now
    ]
    held: Counter[int] = Counter(lk.account_id for lk in lockouts)
    locked = {lk.account_id for lk in lockouts if lk.symbol is None and str(lk.kind) == "lockout"}
    positions = await store.fetch("SELECT account_id, COUNT(*) FROM positions GROUP BY account_id")
    open_positions = {int(r[0]): int(r[1]) for r in positions}
    accounts: list[dict[str, Any]] = []
    for account_id in ids:
        day = await store.account_state(account_id)
        assert day is not None  # listed from account_state
        accounts.append(
            {
                "id": account_id,
                "name": day.account_name,
                "trading_day": day.trading_day.isoformat(),
                "realized": day.realized_pnl,
                "unrealized": day.unrealized_pnl,
                "trades": day.trades,
                "lockouts": held[account_id],
                "locked": account_id in locked,
                "positions": open_positions.get(account_id, 0),
                "daemon": await daemon_state(store, account_id),
            }
        )
    accounts.sort(key=lambda a: a["name"] or str(a["id"]))
    return {"database": str(store.path), "fleet": _summary(accounts), "accounts": accounts}


def _summary(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    daemons = [a["daemon"] for a in accounts if a["daemon"] is not None]
    running = [d for d in daemons if d["running"]]
    return {
        "accounts": len(accounts),
        "running": len(running),
        "not_reconciled": sum(1 for d in running if d["status"] == "not reconciled"),
        "locked": sum(1 for a in accounts if a["locked"]),
        "realized": sum((a["realized"] for a in accounts), Decimal(0)),
        "unrealized": sum((a["unrealized"] for a in accounts), Decimal(0)),
        "trades": sum(a["trades"] for a in accounts),
    }


def _daemon_word(d: dict[str, Any] | None) -> str:
    if d is None:
        return "-"
    if d["status"] == "stopped":
        return "stopped"
    if not d["running"]:
        return "NOT RUNNING"
    return "NOT RECONCILED" if d["status"] == "not reconciled" else "running"


def render_fleet(data: dict[str, Any], money: Callable[[object], str]) -> str:
    f = data["fleet"]
    lines = [
        f"state database  {data['database']}",
        f"fleet           {f['accounts']} accounts, {f['running']} with a daemon running"
        + (f" ({f['not_reconciled']} NOT RECONCILED)" if f["not_reconciled"] else "")
        + f", {f['locked']} locked out; realized {money(f['realized'])}, "
        f"unrealized {money(f['unrealized'])}, {f['trades']} trades",
    ]
    rows = [
        (
            f"{a['name'] or '-'} ({a['id']})",
            a["trading_day"],
            money(a["realized"]),
            money(a["unrealized"]),
            str(a["trades"]),
            f"{a['lockouts']}{' LOCKED' if a['locked'] else ''}",
            str(a["positions"]),
            _daemon_word(a["daemon"]),
        )
        for a in data["accounts"]
    ]
    heads = ("account", "day", "realized", "unrealized", "trades", "lockouts", "open", "daemon")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    for cells in (heads, *rows):
        lines.append("  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)).rstrip())
    lines.append("(`rmdsl status --account NAME` shows one account in full)")
    return "\n".join(lines)
