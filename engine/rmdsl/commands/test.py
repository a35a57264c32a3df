"""`rmdsl test FILE...`: run ruleset tests (like `promtool test rules`).

Each file names a ruleset and lists test cases: timed events, steps (reload,
restart, disconnect/reconnect, failing broker calls) and the actions, state
and working orders expected, at any instant. A rule that errors fails its
test as an error of the rule. Exit 0 when every test passes, 1 when any
fails or its ruleset is invalid, 2 when a test file is wrong (an unknown
event kind, a misspelt rule name: a located message) or unreadable.
File format: docs/engine.md, "`rmdsl test`".
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from rmdsl.rules.model import Ruleset
    from rmdsl.tooling.offline import Fired
    from rmdsl.tooling.ruletest import TestCase, TestFile

HELP = "run ruleset tests: events in, expected actions and state out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="ruleset test files (YAML)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every action fired")


def run(args: argparse.Namespace) -> int:
    import asyncio

    passed = failed = broken = 0
    worst = 0
    for path in args.files:
        code, ok, bad = asyncio.run(_run_file(path, args.verbose))
        worst = max(worst, code)
        passed, failed, broken = passed + ok, failed + bad, broken + (code != 0)
    counts = f"{passed} passed, {failed} failed"
    if broken:  # never a bare "0 passed, 0 failed" for a file that could not run
        error = f"error: {broken} test file(s) not run: see the errors above"
        counts = error if passed + failed == 0 else f"{counts}; {error}"
    print(f"\n{counts}")
    if worst == 2:
        return 2
    return 1 if failed or worst else 0


async def _run_file(path: str, verbose: bool) -> tuple[int, int, int]:
    """(exit code for the file, passed, failed)."""
    from rmdsl.errors import DiagnosticError, print_diagnostics
    from rmdsl.tooling.ruletest import load_test_file
    from rmdsl.tooling.testevents import TestFileError

    loaded: dict[str, Ruleset] = {}

    def tz_of(rs_path: Any) -> Any:
        from rmdsl.pipeline import load_ruleset

        loaded["rs"] = load_ruleset(rs_path)
        return loaded["rs"].timezone

    try:
        spec = load_test_file(path, tz_of)
        reloads = _reloads(spec)
        _validate(spec, [loaded["rs"], *reloads.values()])
    except OSError as exc:
        where = exc.filename or path
        print(f"{where}: error: cannot read: {exc.strerror}", file=sys.stderr)
        return 2, 0, 0
    except DiagnosticError as exc:
        print_diagnostics(exc.diagnostics)
        return 1, 0, 0
    except TestFileError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2, 0, 0
    ok = bad = 0
    for case in spec.cases:
        from rmdsl.tooling.testrun import CaseRun

        problems, run = await CaseRun(loaded["rs"], case, reloads).execute()
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


def _reloads(spec: TestFile) -> dict[Path, Ruleset]:
    """Every `reload:` ruleset, loaded before any case runs (an invalid one stops the file)."""
    from rmdsl.errors import CheckError, render_all
    from rmdsl.pipeline import load_ruleset
    from rmdsl.tooling.testevents import TestFileError
    from rmdsl.tooling.teststeps import Step

    out: dict[Path, Ruleset] = {}
    for case in spec.cases:
        for step in case.events:
            if not isinstance(step, Step) or step.path is None or step.path in out:
                continue
            try:
                out[step.path] = load_ruleset(step.path)
            except CheckError as exc:
                why = render_all(exc.diagnostics, False)
                raise TestFileError(
                    spec.path, step.line, f"`reload: {step.path}` is invalid:\n{why}", step.col
                ) from None
            except OSError as exc:
                raise TestFileError(
                    spec.path, step.line, f"cannot read `{step.path}`: {exc.strerror}", step.col
                ) from None
    return out


def _validate(spec: TestFile, rulesets: list[Ruleset]) -> None:
    """A misspelt rule or state name is an error of the test file, never "not fired"."""
    from rmdsl.lang.literals import did_you_mean
    from rmdsl.lang.schema import NAMES
    from rmdsl.rules.model import NoStopLossGrace
    from rmdsl.tooling.testcheck import STATE_SPECIAL, known_state_name
    from rmdsl.tooling.testevents import TestFileError
    from rmdsl.tooling.teststeps import Step

    rules = {r.id for rs in rulesets for r in rs.rules} | {NoStopLossGrace.ID}
    names = set(NAMES) | set(STATE_SPECIAL)
    for case in spec.cases:
        expects = [case.expect] + [
            s.expect for s in case.events if isinstance(s, Step) and s.expect is not None
        ]
        for exp in expects:
            for action in exp.actions or []:
                if action.rule not in rules:
                    hint = did_you_mean(action.rule, rules)
                    message = f"no rule `{action.rule}` in the ruleset: {hint}"
                    raise TestFileError(spec.path, action.rule_line, message, action.rule_col)
            for line, col, rule in exp.errors:
                if rule not in rules:
                    message = f"no rule `{rule}` in the ruleset: {did_you_mean(rule, rules)}"
                    raise TestFileError(spec.path, line, message, col)
            for line, col, name, _ in exp.state:
                if not known_state_name(name):
                    message = f"unknown state name `{name}`: {did_you_mean(name, names)}"
                    raise TestFileError(spec.path, line, message, col)


def _describe_got(case: TestCase, fired: list[Fired]) -> list[str]:
    from rmdsl.tooling.testcheck import groups_of

    return [
        f"{case.local_time(g['at'])} {g['rule']} {g['action']} "
        f"[{', '.join(g['targets']) or '-'}] {'skipped' if g['skipped'] else g['outcome']}"
        for g in groups_of(fired)
    ]
