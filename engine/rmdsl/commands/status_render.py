"""`rmdsl status` as text: the account, its day, the lockouts, the rule errors and the metrics.

Kept apart from the reading (rmdsl.commands.status) so each stays one job: this module
only formats the dictionary that `status --json` prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rmdsl.commands.daemon_state import daemon_line
from rmdsl.commands.status_account import render_mll

_VERB = {
    "pause": "paused",
    "symbol_block": "blocked",
    "lockout": "locked",
    "reduce_only": "reduce-only (exits only)",
}
STATS = ("p50", "p95", "p99", "max")


def render_rule_errors(errors: list[dict[str, Any]], ts: Callable[[object], str]) -> list[str]:
    """The `rule errors` section: a rule that fails to evaluate must never look quiet."""
    lines = [_section("rule errors", len(errors))]
    for e in errors:
        where = f" at {e['where']}" if e["where"] else ""
        lines.append(
            f"  {e['rule']} failed in `{e['part']}`{where}: {e['error']} "
            f"({e['count']} since {ts(e['first'])}, last {ts(e['last'])})"
        )
    return lines


# --------------------------------------------------------------------------------------
def fmt_ts(value: object, zone: str | None = None) -> str:
    """An instant on the clock of `zone` (None: local), e.g. `2026-11-23 17:00:00 CST`."""
    from zoneinfo import ZoneInfo

    if isinstance(value, dt.datetime):
        local = value.astimezone(ZoneInfo(zone) if zone else None)
        return local.strftime("%Y-%m-%d %H:%M:%S %Z")
    return "-" if value is None else str(value)


def fmt_money(value: object) -> str:
    from rmdsl.lang.format import format_value
    from rmdsl.lang.types import MONEY

    return format_value(value, MONEY) if isinstance(value, Decimal) else "-"


def _fmt_stat(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit and ' ' + unit}"


def render_status(data: dict[str, Any]) -> str:
    if "fleet" in data:  # several accounts: a line each (rmdsl.commands.fleet_status)
        from rmdsl.commands.fleet_status import render_fleet

        return render_fleet(data, fmt_money)
    zone: str | None = data["timezone"]

    def ts(value: object) -> str:
        return fmt_ts(value, zone)

    lines = [f"state database  {data['database']}", *_render_account(data, ts)]
    if data["daemon"] is not None:
        lines.append(f"daemon          {daemon_line(data['daemon'], ts)}")
    for p in data["positions"]:
        lines.append(f"position        {p['side']} {p['size']} {p['symbol']} @ {p['entry']}")
    lines.extend(_render_lockouts(data, ts))
    lines.append(_section("timers", len(data["timers"])))
    for t in data["timers"]:
        lines.append(f"  {t['rule']} on {t['entity']}: fires at {ts(t['deadline'])}")
    lines.extend(render_rule_errors(data.get("rule_errors", []), ts))
    rs = data["ruleset"]
    ruleset = "-" if rs is None else f"{rs['name']} {rs['digest']} since {ts(rs['loaded_at'])}"
    lines.append(f"ruleset         {ruleset}")
    for err in data["reload_errors"]:
        lines.append(f"  reload refused at {ts(err['at'])}:")
        lines.extend(f"    {line}" for line in str(err["error"]).splitlines())
    lines.extend(f"  {line}" for line in data.get("params_waiting", []))
    lines.extend(_render_metrics(data["metrics"]))
    return "\n".join(lines)


def _render_account(data: dict[str, Any], ts: Callable[[object], str]) -> list[str]:
    account, pnl = data["account"], data["pnl"]
    if account is None:
        return ["account         (no trading day recorded yet)"]
    return [
        f"account         {account['name'] or '-'} (id {account['id']})",
        f"trading day     {data['trading_day']}  (updated {ts(data['updated_at'])})",
        f"P&L today       realized {fmt_money(pnl['realized'])}, unrealized "
        f"{fmt_money(pnl['unrealized'])}; {pnl['trades']} trades "
        f"({pnl['wins']} won, {pnl['losses']} lost)",
        *render_mll(data.get("mll"), fmt_money),
    ]


def _render_lockouts(data: dict[str, Any], ts: Callable[[object], str]) -> list[str]:
    lines = [_section("lockouts", len(data["lockouts"]))]
    for lk in data["lockouts"]:
        verb = _VERB.get(lk["kind"], "locked")
        until = "the gateway lets it trade" if lk["until"] is None else ts(lk["until"])
        lines.append(
            f"  {lk['scope']} {verb} by {lk['rule']} until {until} "
            f"({lk['until_kind']}) since {ts(lk['since'])}"
        )
        if lk["reason"]:
            lines.append(f"    {lk['reason']}")
    if data.get("expired_lockouts"):
        lines.append(f"  ({data['expired_lockouts']} ended while no daemon ran: not in force)")
    return lines


def _render_metrics(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "metrics (latest summary; p95/p99 need 100 samples)",
        f"  {'metric':<20}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}  state",
    ]
    for m in rows:
        stats = "".join(f"{_fmt_stat(m[s], m['unit']):>10}" for s in STATS)
        rule = f" ({m['worst_rule']})" if m["worst_rule"] else ""
        lines.append(f"  {m['label']:<20}{stats}  {m['state']}{rule}")
    return lines


def _section(name: str, count: int) -> str:
    return f"{name + ':':<16}{'none' if count == 0 else count}"
