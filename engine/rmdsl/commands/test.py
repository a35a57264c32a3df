"""`rmdsl test FILE...`: run ruleset tests (like `promtool test rules`).

Each file names a ruleset and lists test cases: timed events and the actions
(and state) expected. Exit 0 when every test passes, 1 when any fails or a
file is invalid, 2 on a usage or I/O error. File format: docs/engine.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rmdsl.engine.offline import Fired, OfflineRun
    from rmdsl.engine.ruletest import ExpectedAction, TestCase
    from rmdsl.rules.model import Ruleset

HELP = "run ruleset tests: events in, expected actions and state out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="ruleset test files (YAML)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every action fired")


def run(args: argparse.Namespace) -> int:
    import asyncio

    passed = failed = 0
    worst = 0
    for path in args.files:
        code, ok, bad = asyncio.run(_run_file(path, args.verbose))
        worst = max(worst, code)
        passed, failed = passed + ok, failed + bad
    print(f"\n{passed} passed, {failed} failed")
    if worst == 2:
        return 2
    return 1 if failed or worst else 0


async def _run_file(path: str, verbose: bool) -> tuple[int, int, int]:
    """(exit code for the file, passed, failed)."""
    from rmdsl.engine.ruletest import TestFileError, load_test_file
    from rmdsl.errors import DiagnosticError, render_all, stream_is_tty

    loaded: dict[str, Ruleset] = {}

    def tz_of(rs_path: Any) -> Any:
        from rmdsl.pipeline import load_ruleset

        loaded["rs"] = load_ruleset(rs_path)
        return loaded["rs"].timezone

    try:
        spec = load_test_file(path, tz_of)
    except OSError as exc:
        where = exc.filename or path
        print(f"{where}: error: cannot read: {exc.strerror}", file=sys.stderr)
        return 2, 0, 0
    except DiagnosticError as exc:
        print(render_all(exc.diagnostics, stream_is_tty(sys.stderr)), file=sys.stderr)
        return 1, 0, 0
    except TestFileError as exc:
        print(f"{exc}", file=sys.stderr)
        return 1, 0, 0
    ruleset = loaded["rs"]
    ok = bad = 0
    for case in spec.cases:
        problems, run = await _run_case(ruleset, case)
        if problems:
            bad += 1
            print(f"{path}:{case.line}: FAIL {case.name}")
            for line, text in problems:
                print(f"  {path}:{line}: {text}" if line else f"  {text}")
        else:
            ok += 1
            print(f"{path}:{case.line}: ok   {case.name}")
        if verbose or problems:
            for text in _describe_got(case, run.fired):
                print(f"    fired: {text}")
    return 0, ok, bad


async def _run_case(ruleset: Ruleset, case: TestCase) -> tuple[list[tuple[int, str]], OfflineRun]:
    from rmdsl.engine.offline import OfflineRun, quiet_engine_logs

    with quiet_engine_logs():
        run = await OfflineRun(ruleset, case.start, simulate=True).start()
        if case.initial:
            from rmdsl.engine.ruletest import initial_quotes, snapshot_of

            for quote in initial_quotes(case.initial):
                run.engine.state.apply_quote(quote)  # type: ignore[arg-type]
            snap = snapshot_of(case.initial, run.engine.state, case.start)
            await run.reconcile(snap, case.initial[0].line)
        for located in case.events:
            await run.feed(located.events(run.engine.state), located.line)
        await run.finish()
    problems = _check_actions(case, run.fired) if case.actions is not None else []
    problems += _check_state(case, run)
    return problems, run


def _groups(fired: list[Fired]) -> list[dict[str, Any]]:
    out: dict[tuple[object, ...], dict[str, Any]] = {}
    for f in fired:
        r = f.record
        key = (r.timestamp, r.rule_name, r.action, r.reason)
        group = out.setdefault(
            key, {"at": r.timestamp, "rule": r.rule_name, "action": r.action, "records": []}
        )
        group["records"].append(r)
    for g in out.values():
        outcomes = {str(r.outcome) for r in g["records"]}
        g["skipped"] = outcomes == {"skipped"}
        g["outcome"] = next(o for o in ("failed", "ok", "skipped") if o in outcomes)
        g["targets"] = [r.target for r in g["records"] if str(r.outcome) != "skipped"]
    return list(out.values())


def _matches(exp: ExpectedAction, g: dict[str, Any]) -> bool:
    from rmdsl.engine.events import symbol_of

    if exp.rule != g["rule"] or exp.action not in (g["action"], g["action"].split("(", 1)[0]):
        return False
    if exp.at is not None and exp.at != g["at"]:
        return False
    if exp.outcome is not None:
        return exp.outcome == ("skipped" if g["skipped"] else g["outcome"])
    if g["skipped"]:
        return False
    if exp.symbol is not None:
        return any(symbol_of(t) == exp.symbol.upper() for t in g["targets"] or [""])
    return True


def _check_actions(case: TestCase, fired: list[Fired]) -> list[tuple[int, str]]:
    groups = _groups(fired)
    used: set[int] = set()
    problems: list[tuple[int, str]] = []
    for exp in case.actions or []:
        hit = next((i for i, g in enumerate(groups) if i not in used and _matches(exp, g)), None)
        if hit is None:
            problems.append((exp.line, f"expected {_describe_exp(exp, case)}: not fired"))
        else:
            used.add(hit)
    for i, g in enumerate(groups):
        if i not in used and not g["skipped"]:
            line = next((f.line for f in fired if f.record is g["records"][0]), None) or 0
            problems.append((line, f"unexpected {_describe_group(g, case)}"))
    return problems


def _check_state(case: TestCase, run: OfflineRun) -> list[tuple[int, str]]:
    problems = []
    for line, name, expected in case.state:
        got = _state_value(run, name)
        if got is _MISSING:
            problems.append((line, f"state {name}: unknown name"))
        elif not _equal(expected, got):
            want, have = _shown(name, expected), _shown(name, got)
            problems.append((line, f"state {name}: expected {want}, got {have}"))
    return problems


def _shown(name: str, value: Any) -> str:
    """`-$520.00`, `2m`, `true`: as the language writes a value of `name`'s type."""
    from rmdsl.lang.format import format_value
    from rmdsl.lang.schema import NAMES
    from rmdsl.lang.types import BOOL, STRING, list_of

    typ = {"lockout": BOOL, "blocked": list_of(STRING)}.get(name)
    spec = NAMES.get(name)
    return format_value(value, typ or (spec.type if spec else STRING))


_MISSING = object()


def _state_value(run: OfflineRun, name: str) -> Any:
    eng = run.engine
    if name == "lockout":
        return eng.lockouts.account_locked
    if name == "blocked":
        return sorted(r.symbol for r in eng.lockouts.active.values() if r.symbol)
    obj: Any = eng.ctx
    for part in name.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _equal(expected: Any, got: Any) -> bool:
    from decimal import Decimal, InvalidOperation

    from rmdsl.engine.ruletest import money

    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(got, int | Decimal):
        try:
            return money(expected) == Decimal(got)
        except (ValueError, InvalidOperation):
            return False
    if isinstance(expected, list):
        return [str(x) for x in expected] == [str(x) for x in got]
    return str(expected) == str(got)


def _local(case: TestCase, ts: Any) -> str:
    """Times as the file writes them: HH:MM:SS(.fff) in the ruleset's timezone on its date."""
    local = ts.astimezone(case.tz)
    text = local.strftime("%H:%M:%S.%f")[:-3].removesuffix(".000")
    return text if local.date() == case.date else f"{local.date()} {text}"


def _describe_exp(exp: ExpectedAction, case: TestCase) -> str:
    at = f" at {_local(case, exp.at)}" if exp.at else ""
    sym = f" on {exp.symbol}" if exp.symbol else ""
    out = f" ({exp.outcome})" if exp.outcome else ""
    return f"{exp.rule} {exp.action}{sym}{at}{out}"


def _describe_group(g: dict[str, Any], case: TestCase) -> str:
    targets = ", ".join(g["targets"]) or "-"
    return f"{g['rule']} {g['action']} on {targets} at {_local(case, g['at'])} ({g['outcome']})"


def _describe_got(case: TestCase, fired: list[Fired]) -> list[str]:
    return [
        f"{_local(case, g['at'])} {g['rule']} {g['action']} "
        f"[{', '.join(g['targets']) or '-'}] {'skipped' if g['skipped'] else g['outcome']}"
        for g in _groups(fired)
    ]
