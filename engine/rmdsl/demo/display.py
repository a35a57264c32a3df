"""What `rmdsl demo` prints: a live line per trader step, fill and enforcement, then a summary.

Rich renders colour on a terminal and plain text otherwise (pipes, CI logs).
Times are session time in the ruleset's timezone (the simulated clock), and
the lines come in that order: an enforcement is recorded only once its broker
call returned, often after the fill it caused arrived, so each line is held
for HOLD_S of wall time and the held lines are printed sorted by session time.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import time
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rmdsl.contract.events import ConnectionEvent, Event, OrderEvent, TradeEvent, symbol_of
from rmdsl.demo.money import DemoMoney
from rmdsl.demo.script import Expectation
from rmdsl.engine.persistence import EnforcementRecord, Outcome
from rmdsl.lang.format import format_value, shown_values
from rmdsl.lang.types import MONEY

HOLD_S = 0.5  # wall seconds a line waits for an earlier one to arrive
_OUTCOME_STYLE = {Outcome.OK: "green", Outcome.FAILED: "bold red", Outcome.SKIPPED: "yellow"}


def short_target(target: str) -> str:
    """`CON.F.US.MNQ.Z25` -> `MNQ`, `CON.F.US.EP.Z25` -> `ES`; order and account targets as
    they are."""
    return symbol_of(target) if target.startswith("CON.") else (target or "account")


def latency_text(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.1f} ms"


class Display:
    """Live lines on `console`; `records` keeps every enforcement in arrival order."""

    def __init__(self, console: Console, tz: ZoneInfo, hold_s: float = HOLD_S) -> None:
        self.console = console
        self.tz = tz
        self.hold_s = hold_s
        self.records: list[EnforcementRecord] = []
        self.orders: dict[int, str] = {}  # order id -> "MNQ stop", from the order events seen
        self._held: list[tuple[dt.datetime, int, float, list[Text]]] = []  # a heap by ts
        self._seq = itertools.count()

    def _time(self, ts: dt.datetime) -> str:
        return ts.astimezone(self.tz).strftime("%H:%M:%S")

    def _line(self, ts: dt.datetime, kind: str, style: str, text: Text | str, *more: Text) -> None:
        line = Text()
        line.append(f"{self._time(ts)}  ", style="dim")
        line.append(f"{kind:<9}", style=style)
        line.append(text if isinstance(text, Text) else Text(text))
        heapq.heappush(self._held, (ts, next(self._seq), time.monotonic(), [line, *more]))
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Print the held lines in session-time order: those held HOLD_S, or all (`force`)."""
        ready = time.monotonic() - self.hold_s
        while self._held and (force or min(h[2] for h in self._held) <= ready):
            for line in heapq.heappop(self._held)[3]:
                self.console.print(line)

    def intro(self, lines: Sequence[str]) -> None:
        self.console.print(Text("rmdsl demo", style="bold"))
        for line in lines:
            self.console.print(Text(f"  {line}"))
        self.console.print()

    def note(self, text: str) -> None:
        self.console.print(Text(f"  {text}", style="dim"))

    def step(self, ts: dt.datetime, kind: str, says: str) -> None:
        self._line(ts, kind, "cyan" if kind == "trader" else "yellow", says)

    def event(self, event: Event) -> None:
        """Daemon observer: fills and connection changes as they reach the engine."""
        if isinstance(event, OrderEvent):
            self.orders[event.id] = f"{event.symbol} {event.type.word.replace('_', ' ')}"
        elif isinstance(event, TradeEvent) and not event.voided:
            pnl = f"  fees {_money(event.fees)}, net {_money(event.net_pnl)}"
            if event.pnl is not None:
                pnl = f"  P&L {_money(event.pnl)} gross,{pnl[1:]}"
            self._line(
                event.ts,
                "fill",
                "blue",
                f"{event.side.word} {event.size} {event.symbol} @ {event.price:.2f}{pnl}",
            )
        elif isinstance(event, ConnectionEvent):
            self._line(event.ts, "broker", "yellow", str(event.state))

    def enforcement(self, record: EnforcementRecord) -> None:
        self.records.append(record)
        text = Text()
        text.append(f"{record.rule_name}", style="bold")
        text.append(f"  {self.action_text(record)}")
        text.append(f"  {latency_text(record.latency_ms)}  ")
        text.append(str(record.outcome), style=_OUTCOME_STYLE.get(record.outcome, ""))
        if record.error:
            text.append(f" ({record.error})", style="red")
        why = ", ".join(f"{k} = {v}" for k, v in shown_values(record.values, record.shown).items())
        more = [Text(f"{'':19}why: {why}", style="dim")] if why else []
        self._line(record.timestamp, "ENFORCE", "bold magenta", text, *more)

    def action_text(self, record: EnforcementRecord) -> str:
        """`flatten: cancelled order 17 (MNQ stop)` for an order a flatten or lockout cancelled
        (its target is the order, not what the flatten was for); `close_position MNQ` else."""
        target = record.target
        if not target.startswith("order:"):
            return f"{record.action} {short_target(target)}"
        order_id = target.removeprefix("order:")
        what = self.orders.get(int(order_id)) if order_id.isdigit() else None
        order = f"order {order_id}" + (f" ({what})" if what else "")
        if record.action.startswith("cancel"):
            return f"{record.action} {order}"
        done = "cancelled" if record.outcome is Outcome.OK else "cancel of"
        return f"{record.action}: {done} {order}"

    def summary(self, missing: Sequence[Expectation], money: DemoMoney | None = None) -> None:
        self.flush(force=True)
        plain = not self.console.is_terminal
        table = Table(
            title="enforcement summary",
            box=box.ASCII if plain else box.SIMPLE_HEAD,
            padding=(0, 1) if plain else 0,  # fits 80 columns on a terminal
            pad_edge=plain,
        )
        table.add_column("time", no_wrap=True)
        table.add_column("rule", no_wrap=True)  # ids are what people grep for: never cut
        table.add_column("action", overflow="fold")
        table.add_column("latency", justify="right", no_wrap=True)
        table.add_column("outcome", no_wrap=True)
        for r in sorted(self.records, key=lambda r: r.timestamp):  # stable: same instant as sent
            table.add_row(
                self._time(r.timestamp),
                r.rule_name,
                r.action if r.target in ("", "account") else self.action_text(r),
                latency_text(r.latency_ms),
                Text(str(r.outcome), style=_OUTCOME_STYLE.get(r.outcome, "")),
            )
        self.console.print()
        self.console.print(table)
        for exp in missing:
            self.console.print(Text(f"not enforced: {exp.what}", "red"))
        self.money(money)

    def money(self, money: DemoMoney | None) -> None:
        """The day's P&L as rmdsl counted it and as the gateway's fills and balance say."""
        if money is None:
            self.console.print(Text("P&L: rmdsl did not see every fill of the gateway", "red"))
            return
        self.console.print()
        for who, m in (("rmdsl's day", money.rmdsl), ("gateway fills", money.gateway)):
            self.console.print(
                f"{who:<14} gross {_money(m.gross)} - fees {_money(m.fees)} "
                f"= net {_money(m.net)}  ({m.fills} fills)"
            )
        self.console.print(f"{'balance':<14} changed by {_money(money.balance_change)}")
        if not money.adds_up:
            self.console.print(Text("P&L: the figures do not add up", "bold red"))


def _money(value: object) -> str:
    return format_value(value, MONEY)


def summary_json(
    records: Sequence[EnforcementRecord],
    tz: ZoneInfo,
    missing: Sequence[Expectation],
    money: DemoMoney | None = None,
) -> dict[str, Any]:
    return {
        "ok": not missing and money is not None and money.adds_up,
        "pnl": money.as_json() if money is not None else None,
        "rules_fired": sorted({r.rule_name for r in records}),
        "enforcements": [
            {
                "time": r.timestamp.astimezone(tz).isoformat(),
                "rule": r.rule_name,
                "action": r.action,
                "target": r.target,
                "latency_ms": r.latency_ms,
                "outcome": str(r.outcome),
                "error": r.error,
                "values": dict(r.values),
                "shown": shown_values(r.values, r.shown),
            }
            for r in records
        ],
        "missing": [{"rules": list(e.rules), "what": e.what} for e in missing],
    }
