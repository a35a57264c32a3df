"""`rmdsl replay --ruleset R EVENTS.jsonl`: recorded events through a ruleset on a virtual clock.

Prints the timeline of what fired, when, why (the values), what enforcement
would have sent, and what each firing would have saved or cost.
A rule whose evaluation fails is reported as an error of that rule (where
it is written, what failed, how often), never as "nothing fired".
Exit 0 ok, 1 invalid ruleset or recording or a rule that errored, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rmdsl.recording import Recorded
    from rmdsl.rules.model import Ruleset
    from rmdsl.tooling.impact import Impact
    from rmdsl.tooling.offline import Fired, OfflineRun

HELP = "replay recorded events through a ruleset and show what would have fired"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", metavar="EVENTS.jsonl", help="a recording (docs/events.md)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--ruleset", "-r", metavar="R", help="the ruleset file")
    which.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="two ruleset files: their firings side by side on the same recording",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def _read[T](path: str, read: Callable[[str], T]) -> T | int:
    """What `read` makes of the file (a ruleset, a recording), or the exit code after printing
    why it cannot be used: 1 not valid (a ruleset's located diagnostics, a recording's bad
    line), 2 not readable."""
    from rmdsl.errors import CheckError, print_diagnostics
    from rmdsl.recording import RecordingError

    try:
        return read(path)
    except CheckError as exc:
        print_diagnostics(exc.diagnostics)
        return 1
    except RecordingError as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rmdsl replay: error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from rmdsl.errors import stream_is_tty
    from rmdsl.pipeline import load_ruleset
    from rmdsl.recording import read_recording

    paths: list[str] = args.compare or [args.ruleset]
    rulesets = [_read(p, load_ruleset) for p in paths]
    for loaded in rulesets:
        if isinstance(loaded, int):
            return loaded
    recorded = _read(args.events, read_recording)
    if isinstance(recorded, int):
        return recorded
    import asyncio

    if args.compare:
        return _compare(rulesets, recorded, (paths[0], paths[1]), args.format)  # type: ignore[arg-type]
    ruleset = rulesets[0]
    assert not isinstance(ruleset, int)
    report = asyncio.run(_replay(ruleset, recorded))
    if args.format == "json":
        import json

        print(json.dumps(report, indent=2))
    else:
        _print_text(report, color=stream_is_tty(sys.stdout))
    return 1 if report["errors"] else 0


def _compare(
    rulesets: list[Ruleset], recorded: list[Recorded], paths: tuple[str, str], fmt: str
) -> int:
    import asyncio
    import json

    from rmdsl.commands.replay_compare import compare_json, print_compare

    a, b = (asyncio.run(_replay(r, recorded)) for r in rulesets)
    report = compare_json(a, b, paths)
    if fmt == "json":
        print(json.dumps(report, indent=2))
    else:
        print_compare(report, a["timezone"], print)
    return 1 if a["errors"] or b["errors"] else 0


async def _replay(ruleset: Ruleset, recorded: list[Recorded]) -> dict[str, Any]:
    from rmdsl.tooling.offline import OfflineRun, quiet_engine_logs

    if not recorded:
        return _report(ruleset, recorded, [], None)
    with quiet_engine_logs():
        run = await OfflineRun(ruleset, recorded[0].event.ts, simulate=False).start()
        for rec in recorded:
            await run.feed(rec.event, rec.line)
        await run.finish()
    return _report(ruleset, recorded, run.fired, run)


def rule_errors(fired: list[Fired], run: OfflineRun | None) -> list[dict[str, Any]]:
    """One entry per rule that errored: the first error, where, how often, first line."""
    if run is None:
        return []
    errors = run.engine.evaluator.errors
    lines = {f.record.rule_name: f.line for f in reversed(fired) if _is_error(f)}
    return [
        {
            "rule": rule_id,
            "part": first.part,
            "where": first.where,
            "error": first.error,
            "count": errors.counts[rule_id],
            "first_ts": first.ts.isoformat(),
            "line": lines.get(rule_id),
            "consequence": first.consequence,
        }
        for rule_id, first in errors.first.items()
    ]


def _is_error(f: Fired) -> bool:
    return str(f.record.outcome) == "error"


def _groups(fired: list[Fired]) -> list[list[Fired]]:
    """Records of one firing (same event, rule, action) together, in time order."""
    out: dict[tuple[object, ...], list[Fired]] = {}
    for f in fired:
        if _is_error(f):
            continue
        r = f.record
        out.setdefault((f.index, r.timestamp, r.rule_name, r.action, r.reason), []).append(f)
    return list(out.values())


def _report(
    ruleset: Ruleset, recorded: list[Recorded], fired: list[Fired], run: OfflineRun | None
) -> dict[str, Any]:
    from rmdsl.commands.replay_summary import Figure, covers, no_figure, summarize
    from rmdsl.tooling.impact import measure

    events = [r.event for r in recorded]
    final_open: dict[str, Any] = {}
    lockouts: list[Any] = []
    if run is not None:
        final_open = {c: p.view.unrealized_pnl for c, p in run.engine.state.positions.items()}
        from rmdsl.tooling.memory_store import MemoryStore

        store = run.store
        lockouts = list(store.lockouts.values()) if isinstance(store, MemoryStore) else []
    firings: list[dict[str, Any]] = []
    figures: list[Figure] = []
    for group in _groups(fired):
        impact = measure(group, events, final_open, lockouts)
        firing = _firing_json(group, impact)
        firing["no_figure"] = None if impact is not None else no_figure(group)
        if impact is not None:
            cover = covers(group, impact, events, lockouts)
            figures.append(Figure(len(firings), firing["rule"], firing["ts"], impact.saved, cover))
        firings.append(firing)
    return {
        "ruleset": ruleset.name,
        "timezone": ruleset.timezone.key,
        "events": len(recorded),
        "start": recorded[0].event.ts.isoformat() if recorded else None,
        "end": recorded[-1].event.ts.isoformat() if recorded else None,
        "firings": firings,
        "errors": rule_errors(fired, run),
        "summary": summarize(firings, figures),
    }


def _firing_json(group: list[Fired], impact: Impact | None) -> dict[str, Any]:
    from rmdsl.lang.format import shown_values

    r = group[0].record
    return {
        "ts": r.timestamp.isoformat(),
        "line": group[0].line,
        "rule": r.rule_name,
        "action": r.action,
        "severity": r.severity,
        "message": r.reason,
        "values": dict(r.values),
        "shown": shown_values(r.values, r.shown),
        "sent": [
            {"target": f.record.target, "outcome": str(f.record.outcome), "error": f.record.error}
            for f in group
        ],
        "impact": None
        if impact is None
        else {
            "saved": str(impact.saved),
            "at_enforcement": str(impact.at_enforcement),
            "recorded": str(impact.recorded),
            "contracts": list(impact.contracts),
        },
    }


def _print_text(report: dict[str, Any], color: bool) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from rmdsl.commands.replay_summary import impact_text, summary_lines

    zone = ZoneInfo(report["timezone"])

    def ts(text: str) -> str:  # on the ruleset's clock, as a trader reads the recording
        return dt.datetime.fromisoformat(text).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    bold = (lambda s: f"\x1b[1m{s}\x1b[0m") if color else (lambda s: s)
    print(f"replay of {report['events']} events through ruleset {report['ruleset']}")
    if report["start"]:
        print(f"from {ts(report['start'])} to {ts(report['end'])}")
    if not report["firings"]:
        print("\nnothing fired")
    for e in report["errors"]:
        where = f" (line {e['line']})" if e["line"] else ""
        print(
            f"\n{bold('ERROR')} rule {bold(e['rule'])} failed in `{e['part']}`"
            f"{' at ' + e['where'] if e['where'] else ''}: {e['error']}"
        )
        print(f"  {e['count']} time(s), first at {ts(e['first_ts'])}{where}; {e['consequence']}")
    for f in report["firings"]:
        where = f" (line {f['line']})" if f["line"] else ""
        print(f"\n{bold(ts(f['ts']))}{where}  {bold(f['rule'])}  {f['action']}")
        if f["shown"]:
            print("  why:     " + ", ".join(f"{k} = {v}" for k, v in f["shown"].items()))
        print(f"  message: {f['message']}")
        for s in f["sent"]:
            extra = f" ({s['error']})" if s["error"] else ""
            print(f"  sends:   {f['action']} {s['target']}: {s['outcome']}{extra}")
        print("  impact:  " + impact_text(f))
    print("\nsummary:")
    for line in summary_lines(report["summary"], ts):
        print(line)
    if report["errors"]:
        print(f"  {len(report['errors'])} rule(s) failed to evaluate: see ERROR above")
