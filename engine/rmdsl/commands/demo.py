"""`rmdsl demo`: the whole daemon, no account needed, against the built-in simulated gateway.

A scripted session breaks rules of the shipped Topstep ruleset; each
enforcement is shown live, then a summary and the day's P&L (gross, fees, net)
as rmdsl counted it and as the gateway's fills and balance say. Exit 0 when
every rule the script breaks was enforced and the two add up to the cent, 1
otherwise or on the time limit, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rmdsl.commands import add_state_argument

if TYPE_CHECKING:
    from rmdsl.demo.display import Display
    from rmdsl.demo.session import DemoResult
    from rmdsl.rules.model import Ruleset

HELP = "run a scripted trading session against a simulated gateway and watch rmdsl enforce"
DEFAULT_SPEED = 8.0
TIME_LIMIT_S = 120.0
PLAIN_WIDTH = 132


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"how much faster than real time the session runs (default {DEFAULT_SPEED:g})",
    )
    add_state_argument(
        parser, "keep the demo's state database here (default: a temporary directory, removed)"
    )
    parser.add_argument(
        "--ruleset",
        metavar="FILE",
        help="play the story against this ruleset (default: the shipped rulesets/topstep.yaml)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a machine-readable summary on stdout"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=TIME_LIMIT_S,
        metavar="SECONDS",
        help=f"stop the demo after this long (default {TIME_LIMIT_S:g} s)",
    )
    from rmdsl.dashboard import add_arguments as add_dashboard_arguments

    add_dashboard_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not 0.5 <= args.speed <= 100:
        print("rmdsl demo: error: --speed must be between 0.5 and 100", file=sys.stderr)
        return 2
    import asyncio
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rmdsl-demo-") as tmp:
        state = Path(args.state).expanduser() if args.state else Path(tmp) / "state.db"
        if state.exists():
            print(f"rmdsl demo: error: {state} exists; the demo wants a new file", file=sys.stderr)
            return 2
        return asyncio.run(_main(args, state, Path(tmp) / "demo.log"))


async def _main(args: argparse.Namespace, state: Path, log_file: Path) -> int:
    import asyncio

    from rich.console import Console

    from rmdsl.commands.run import default_ruleset, load_sdk_quietly
    from rmdsl.daemon import configure_logging
    from rmdsl.dashboard import options_from
    from rmdsl.demo.display import Display
    from rmdsl.demo.session import run_demo

    configure_logging("text", str(log_file), "info", stderr=False)
    load_sdk_quietly()
    path = Path(args.ruleset) if args.ruleset else default_ruleset()
    ruleset = _load(path)
    if ruleset is None:
        return 1 if path.is_file() else 2
    console = Console(stderr=args.json, highlight=False)
    if not console.is_terminal:
        console.width = PLAIN_WIDTH  # a log or a pipe: long lines, never wrapped mid-word
    display = Display(console, ruleset.timezone)
    display.intro(_intro(path, ruleset.name, args.speed, ruleset.no_stop_loss_grace.grace_ms))
    try:
        async with asyncio.timeout(args.time_limit):
            result = await run_demo(path, ruleset, state, args.speed, display, options_from(args))
    except TimeoutError:
        print(
            f"rmdsl demo: error: the demo did not finish within {args.time_limit:g} s; "
            "everything it started has been stopped",
            file=sys.stderr,
        )
        return 1
    return _report(display, args, state, ruleset, result)


def _report(
    display: Display, args: argparse.Namespace, state: Path, ruleset: Ruleset, result: DemoResult
) -> int:
    """What was not enforced and why, the gateway's refusals, the JSON summary; the exit code."""
    import json

    from rmdsl.demo.display import summary_json
    from rmdsl.demo.verdict import explain

    console = display.console
    unmet = explain(result.missing, ruleset, result.records)
    failures = tuple(u.expectation for u in unmet if u.failure)
    display.summary((), result.money)  # unmet breaches: explained below, with reasons
    for u in unmet:
        console.print(u.line, style="red" if u.failure else "yellow")
    for error in result.player_errors:
        console.print(f"gateway refused a scripted trader action: {error}")
    if args.json:
        summary = summary_json(result.records, ruleset.timezone, failures, result.money)
        summary["not_enforced"] = [
            {"what": u.expectation.what, "why": u.why, "failure": u.failure} for u in unmet
        ]
        print(json.dumps(summary, indent=2))
    if args.state:
        console.print(f"state database kept at {state}: try `rmdsl status --state {state}`")
    adds_up = result.money is not None and result.money.adds_up
    return 0 if not failures and adds_up else 1


def _load(path: Path) -> Ruleset | None:
    """The ruleset, or None after printing why not (located diagnostics, as `check`)."""
    from rmdsl.errors import CheckError, print_diagnostics
    from rmdsl.pipeline import load_ruleset

    try:
        return load_ruleset(path)
    except CheckError as exc:
        print_diagnostics(exc.diagnostics)
        print(f"rmdsl demo: error: {path} is not a valid ruleset", file=sys.stderr)
    except OSError as exc:
        print(f"rmdsl demo: error: cannot read {path}: {exc.strerror}", file=sys.stderr)
    return None


def _intro(path: Path, name: str, speed: float, grace_ms: int) -> list[str]:
    grace_s = grace_ms / 1000
    return [
        f"ruleset {name} ({path}), unchanged; the story breaks its limits "
        "(the Topstep 50K profile and personal limits)",
        "a simulated ProjectX gateway on 127.0.0.1, reached through the real project-x-py SDK",
        f"session time runs {speed:g}x faster than real time (grace {grace_s:g} s of session "
        f"time = {grace_s / speed:.1f} s here); times below are session time",
        "ES trades as CON.F.US.EP.Z25, as on the real gateway (rules see ES); P&L is net: "
        "the gateway's gross profitAndLoss less the fees of every fill",
        "no account, no network: nothing leaves this machine",
    ]
