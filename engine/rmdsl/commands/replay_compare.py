"""`rmdsl replay --compare A.yaml B.yaml EVENTS.jsonl`: two rulesets on the same day.

Both rulesets replay the same recording (each on its own virtual clock and
state, exactly as `rmdsl replay` does); the firings are printed side by side by
the event that caused them, then each ruleset's total of the figures that add
up (docs/engine.md, "`rmdsl replay`"). Times are on ruleset A's clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rmdsl.commands.replay_summary import impact_text, money, summary_lines

WIDTH = 58  # each column; a firing's text is wrapped to it


def compare_json(a: dict[str, Any], b: dict[str, Any], paths: tuple[str, str]) -> dict[str, Any]:
    rows = []
    for key in _keys(a, b):
        rows.append(
            {
                "ts": key[0],
                "line": key[1],
                "a": [_brief(f) for f in a["firings"] if _key(f) == key],
                "b": [_brief(f) for f in b["firings"] if _key(f) == key],
            }
        )
    return {
        "events": a["events"],
        "start": a["start"],
        "end": a["end"],
        "a": {"file": paths[0], "ruleset": a["ruleset"], "summary": a["summary"]},
        "b": {"file": paths[1], "ruleset": b["ruleset"], "summary": b["summary"]},
        "rows": rows,
        "errors": {"a": a["errors"], "b": b["errors"]},
    }


def _key(f: dict[str, Any]) -> tuple[str, int]:
    return f["ts"], f["line"] or 0


def _keys(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, int]]:
    keys = {_key(f) for f in a["firings"]} | {_key(f) for f in b["firings"]}
    return sorted(keys, key=lambda k: (dt.datetime.fromisoformat(k[0]), k[1]))


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    sent = ", ".join(sorted({s["outcome"] for s in f["sent"]}))
    return {
        "rule": f["rule"],
        "action": f["action"],
        "sent": sent,
        "impact": impact_text(f),
        "saved": None if f["impact"] is None else f["impact"]["saved"],
    }


def _cell(items: list[dict[str, Any]]) -> list[str]:
    import textwrap

    out: list[str] = []
    for f in items:
        text = f"{f['rule']} {f['action']} [{f['sent']}]: {f['impact']}"
        out += textwrap.wrap(text, WIDTH, subsequent_indent="  ") or [""]
    return out or ["-"]


def print_compare(report: dict[str, Any], timezone: str, out: Callable[[str], None]) -> None:
    zone = ZoneInfo(timezone)

    def ts(text: str) -> str:
        return dt.datetime.fromisoformat(text).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    a, b = report["a"], report["b"]
    out(f"compare on {report['events']} events of the same recording")
    if report["start"]:
        out(f"from {ts(report['start'])} to {ts(report['end'])}")
    out(f"A: {a['ruleset']} ({a['file']})")
    out(f"B: {b['ruleset']} ({b['file']})")
    for row in report["rows"]:
        where = f" (line {row['line']})" if row["line"] else ""
        out(f"\n{ts(row['ts'])}{where}")
        left, right = _cell(row["a"]), _cell(row["b"])
        for i in range(max(len(left), len(right))):
            la = left[i] if i < len(left) else ""
            rb = right[i] if i < len(right) else ""
            out(f"  {'A' if i == 0 else ' '} {la:<{WIDTH}}  {'B' if i == 0 else ' '} {rb}".rstrip())
    out("\nsummary:")
    for name, side in (("A", a), ("B", b)):
        out(f" {name}: {side['ruleset']}")
        for line in summary_lines(side["summary"], ts):
            out(line)
    diff = Decimal(b["summary"]["total_saved"]) - Decimal(a["summary"]["total_saved"])
    if diff:
        more = "more" if diff > 0 else "less"
        out(f" B would have saved {_money(abs(diff))} {more} than A on this recording")
    else:
        out(" A and B would have saved the same on this recording")
    for name, errors in report["errors"].items():
        for e in errors:
            out(f"ERROR in {name.upper()}: rule {e['rule']} failed: {e['error']}")


def _money(value: Decimal) -> str:
    return money(str(value))
