"""`rmdsl status`'s daemon line: the account's `daemons` row, and whether that daemon lives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rmdsl.store import SqliteStore


async def daemon_state(store: SqliteStore, account_id: int | None) -> dict[str, Any] | None:
    """The daemons row of the account, and whether that daemon is alive now.

    On this host the account's lock answers (the kernel drops it with the process), or
    the row's pid being a live rmdsl process; on another host, a heartbeat within three
    periods.
    """
    import socket

    from rmdsl.store.claim import HEARTBEAT_S
    from rmdsl.store.lock import is_rmdsl, probe

    row = await store.daemon(account_id) if account_id is not None else None
    if row is None:
        return None
    if row.status == "stopped":
        alive: bool = False
    elif row.host == socket.gethostname():
        holder = probe(row.account_id)
        alive = holder is True or (not isinstance(holder, bool) and holder.pid == row.pid)
        alive = alive or is_rmdsl(row.pid)  # a daemon given another RMDSL_LOCK_DIR
    else:
        age = dt.datetime.now(dt.UTC) - row.heartbeat_at
        alive = age < dt.timedelta(seconds=3 * HEARTBEAT_S)
    return {
        "pid": row.pid,
        "host": row.host,
        "started_at": row.started_at,
        "heartbeat_at": row.heartbeat_at,
        "status": row.status,
        "status_since": row.status_since,
        "running": alive,
    }


def daemon_line(d: dict[str, Any], ts: Callable[[object], str]) -> str:
    who = f"pid {d['pid']} on {d['host']}"
    if d["status"] == "stopped":
        return f"not running ({who} stopped at {ts(d['status_since'])})"
    if not d["running"]:
        return (
            f"NOT RUNNING: {who} ended without stopping (killed or crashed); "
            f"last heartbeat {ts(d['heartbeat_at'])}"
        )
    line = f"running since {ts(d['started_at'])} ({who})"
    state = str(d["status"])
    if state == "running":
        return line
    state = state.upper() if state == "not reconciled" else state
    return f"{line}; {state} since {ts(d['status_since'])}"
