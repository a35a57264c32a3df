"""What `rmdsl replay`'s summary may add up, and why a firing has no figure.

Each firing's impact is measured independently against the recording
(docs/engine.md, "`rmdsl replay`"): two firings whose measurements cover the
same closing fills would count them twice. A figure covers the closing fills
it counts (of each contract it closes until that contract went flat, and for a
lockout or symbol block those in its scope until it ends) and the final open
P&L of a position still open at the end of the recording. The total adds the
figures in time order and leaves out any that covers what an earlier added one
covers: each position is counted once, by the first firing that would have
acted on it (what enforcement would have done: the first close wins).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rmdsl.contract.events import Event, PositionEvent, TradeEvent, symbol_of
from rmdsl.engine.persistence import LockoutRecord
from rmdsl.lang.format import format_value
from rmdsl.lang.types import MONEY
from rmdsl.tooling.impact import Impact
from rmdsl.tooling.offline import Fired


def covers(
    group: Sequence[Fired],
    impact: Impact,
    events: Sequence[Event],
    lockouts: Sequence[LockoutRecord],
) -> frozenset[str]:
    """What a figure counts: "fill:<event index>" per closing fill, "open:<contract>" for a
    position still open at the end of the recording (its final open P&L)."""
    first = group[0]
    out: set[str] = set()
    flat_at: dict[str, int] = {}
    for c in impact.contracts:
        end = _flat_at(events, first.index, c)
        flat_at[c] = end
        out |= {f"fill:{i}" for i in _fills(events, first.index, end + 1, c, None)}
        if end == len(events):
            out.add(f"open:{c}")
    r = first.record
    for lk in lockouts:
        if lk.rule_id == r.rule_name and lk.created_at == r.timestamp:
            end = _index_at(events, lk.until_ts)
            for i in _fills(events, first.index, end, None, lk.symbol):
                contract = getattr(events[i], "contract_id", "")
                if i > flat_at.get(contract, -1):  # as impact._prevented counts them
                    out.add(f"fill:{i}")
    return frozenset(out)


def _fills(
    events: Sequence[Event], after: int, before: int, contract: str | None, symbol: str | None
) -> list[int]:
    """Indexes of closing fills (a Trade with a P&L) in (after, before) of a contract/symbol."""
    out = []
    for i in range(after + 1, min(before, len(events))):
        ev = events[i]
        if not isinstance(ev, TradeEvent) or ev.pnl is None:
            continue
        if contract is not None and ev.contract_id != contract:
            continue
        if symbol is not None and symbol_of(ev.contract_id) != symbol:
            continue
        out.append(i)
    return out


def _flat_at(events: Sequence[Event], index: int, contract: str) -> int:
    for i in range(index + 1, len(events)):
        ev = events[i]
        if isinstance(ev, PositionEvent) and ev.contract_id == contract and ev.size == 0:
            return i
    return len(events)


def _index_at(events: Sequence[Event], until: dt.datetime | None) -> int:
    if until is None:
        return len(events)
    return next((i for i, ev in enumerate(events) if ev.ts >= until), len(events))


@dataclass(slots=True)
class Figure:
    key: int  # the firing's position in the report
    rule: str
    ts: str
    saved: Decimal
    covers: frozenset[str]


def additive(figures: Sequence[Figure]) -> tuple[list[Figure], list[tuple[Figure, Figure]]]:
    """(figures added, [(left out, the earlier added one it overlaps)]), in time order."""
    added: list[Figure] = []
    left: list[tuple[Figure, Figure]] = []
    for fig in figures:
        earlier = next((a for a in added if fig.covers & a.covers), None)
        if earlier is None:
            added.append(fig)
        else:
            left.append((fig, earlier))
    return added, left


def no_figure(group: Sequence[Fired]) -> str:
    """Why a firing shows no saved/cost figure, in words."""
    r = group[0].record
    action = r.action.split("(", 1)[0]
    if "lockout.until" in r.values:
        return "enforces an active lockout: counted in the lockout's own figure"
    if all(str(f.record.outcome) == "skipped" for f in group):
        reasons = sorted({f.record.error or "covered by another step" for f in group})
        return "skipped: " + "; ".join(reasons)
    if action in ("close_position", "flatten", "lockout", "cooldown", "block_symbol"):
        return "closed nothing that was open then"
    return f"{action} closes nothing"


def summarize(firings: list[dict[str, Any]], figures: list[Figure]) -> dict[str, Any]:
    """Per rule: firings, the figures of that rule that add up, why the others have none;
    the total of the figures that add up across rules, and those left out of it."""
    rules: dict[str, dict[str, Any]] = {}
    seen: set[tuple[object, ...]] = set()
    for f in firings:
        entry = rules.setdefault(f["rule"], {"firings": 0, "saved": Decimal("0.00"), "none": {}})
        key = (f["ts"], f["line"], f["rule"], f["message"])  # a lockout and its flatten: one
        entry["firings"] += key not in seen
        seen.add(key)
        if f["impact"] is None:
            entry["none"][f["no_figure"]] = entry["none"].get(f["no_figure"], 0) + 1
    for rule, entry in rules.items():
        added, _ = additive([g for g in figures if g.rule == rule])
        entry["saved"] = sum((g.saved for g in added), Decimal("0.00"))
        entry["figures"] = len([g for g in figures if g.rule == rule])
    added, left = additive(figures)
    return {
        "rules": {
            k: {
                "firings": v["firings"],
                "figures": v["figures"],
                "saved": str(v["saved"]) if v["figures"] else None,
                "no_figure": v["none"],
            }
            for k, v in rules.items()
        },
        "total_saved": str(sum((g.saved for g in added), Decimal("0.00"))),
        "added": len(added),
        "left_out": [
            {"rule": a.rule, "ts": a.ts, "saved": str(a.saved), "overlaps": b.rule, "at": b.ts}
            for a, b in left
        ],
    }


def impact_text(f: dict[str, Any]) -> str:
    """`saved $X (...)`, `cost $X (...)`, or why there is no figure."""
    i = f["impact"]
    if i is None:
        return f"no figure: {f['no_figure']}"
    return (
        f"{_saved(i['saved'])} (P&L at enforcement {money(i['at_enforcement'])}"
        f" vs {money(i['recorded'])} recorded)"
    )


def _saved(text: str) -> str:
    verb = "cost" if text.startswith("-") else "saved"
    return f"{verb} {money(text.lstrip('-'))}"


def summary_lines(summary: dict[str, Any], ts: Callable[[str], str]) -> list[str]:
    """Per rule what it did alone; a total of the figures that add up (docs/engine.md)."""
    out = []
    for rule, s in summary["rules"].items():
        parts = []
        if s["saved"] is not None:
            parts.append(_saved(s["saved"]))
        parts += [f"{n} with no figure ({why})" for why, n in s["no_figure"].items()]
        out.append(f"  {rule}: fired {s['firings']} time(s), " + "; ".join(parts))
    out.append(
        f"  total {_saved(summary['total_saved'])} "
        f"({summary['added']} figure(s) that add up: each position counted once)"
    )
    for left in summary["left_out"]:
        out.append(
            f"  not added: {left['rule']} at {ts(left['ts'])} ({_saved(left['saved'])}) "
            f"measures what {left['overlaps']} at {ts(left['at'])} already counts"
        )
    return out


def money(text: str) -> str:
    """A money figure of the report (a decimal string) as the operator output writes money."""
    return format_value(Decimal(text), MONEY)
