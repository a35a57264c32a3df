"""`rmdsl run`: the enforcement daemon on one TopstepX account, until SIGINT/SIGTERM.

Flags or environment -> a Daemon over the ProjectX adapter and the SQLite state
store, holding the account's lock. Exit 0 on a clean shutdown, 1 for an invalid
ruleset, 2 for a usage, credential, connection or database error, or when
another daemon already enforces the account.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmdsl.daemon import Daemon

RATE_WINDOW_S = 60.0  # rmdsl.notify.RATE_WINDOW_S, without importing it for --help
HELP = "run the enforcement daemon on a TopstepX account (until Ctrl-C / SIGTERM)"

ENV_RULESET = "RMDSL_RULESET"
ENV_ACCOUNT = ("RMDSL_ACCOUNT", "PROJECT_X_ACCOUNT_NAME")
ENV_CREDENTIALS = ("PROJECT_X_API_KEY", "PROJECT_X_USERNAME")


def default_ruleset() -> Path:
    """rulesets/topstep.yaml: inside the wheel (rmdsl/rulesets), or the source checkout's."""
    from importlib import resources

    packaged = resources.files("rmdsl") / "rulesets" / "topstep.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "rulesets" / "topstep.yaml"


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines on stderr"
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ruleset",
        metavar="FILE",
        default=os.environ.get(ENV_RULESET),
        help=f"ruleset file (env {ENV_RULESET}; default: the shipped rulesets/topstep.yaml)",
    )
    parser.add_argument(
        "--account",
        metavar="NAME",
        default=next((os.environ[n] for n in ENV_ACCOUNT if os.environ.get(n)), None),
        help="TopstepX account name (env RMDSL_ACCOUNT or PROJECT_X_ACCOUNT_NAME)",
    )
    parser.add_argument(
        "--state",
        "--state-db",
        dest="state",
        metavar="PATH",
        default=None,
        help="state database (env RMDSL_STATE; default ~/.risk_manager/state.db)",
    )
    parser.add_argument(
        "--no-reload", action="store_true", help="do not watch the ruleset for changes"
    )
    parser.add_argument(
        "--alert-window",
        type=float,
        metavar="SECONDS",
        default=RATE_WINDOW_S,
        help=f"send an alert of one kind at most once per SECONDS (default {RATE_WINDOW_S:g}; "
        "0 sends every one)",
    )
    add_logging_arguments(parser)


def run(args: argparse.Namespace) -> int:
    missing = [name for name in ENV_CREDENTIALS if not os.environ.get(name)]
    if missing:
        print(
            f"rmdsl run: error: ProjectX credentials missing: set {' and '.join(missing)}\n"
            "help: the API key and user name of your TopstepX login (the practice account "
            "uses the same ones)",
            file=sys.stderr,
        )
        return 2
    if not args.account:
        print(
            "rmdsl run: error: no account: pass --account NAME or set RMDSL_ACCOUNT "
            "(or PROJECT_X_ACCOUNT_NAME)",
            file=sys.stderr,
        )
        return 2
    ruleset = Path(args.ruleset) if args.ruleset else default_ruleset()
    from rmdsl.store.db import default_path

    state = Path(args.state).expanduser() if args.state else default_path()
    if not ruleset.is_file():
        print(f"rmdsl run: error: no ruleset file at {ruleset}", file=sys.stderr)
        return 2
    import asyncio

    from rmdsl.daemon import configure_logging

    configure_logging(args.log_format, args.log_file, args.log_level)
    return asyncio.run(
        _serve(ruleset, args.account, state, not args.no_reload, max(args.alert_window, 0.0))
    )


def load_sdk_quietly() -> None:
    """Import the SDK now and route its loggers (which print INFO to stdout) through ours."""
    import rmdsl.broker.projectx_sdk  # noqa: F401  (the adapter's import of project_x_py)
    from rmdsl.daemon import tame_sdk_loggers

    tame_sdk_loggers()


async def _serve(
    ruleset: Path, account: str, state: Path, reload: bool, alert_window_s: float
) -> int:
    from rmdsl.broker.projectx import ProjectXBroker
    from rmdsl.daemon import Daemon
    from rmdsl.notify import LogNotifier, RateLimitedNotifier
    from rmdsl.store import SqliteStore
    from rmdsl.store.lock import default_lock_dir

    load_sdk_quietly()
    daemon = Daemon(
        ruleset,
        ProjectXBroker(account),
        SqliteStore(state),
        RateLimitedNotifier(LogNotifier(), alert_window_s),
        reload=reload,
        lock_dir=default_lock_dir(),  # one daemon per account on this machine
    )
    return await serve_reporting(daemon, "rmdsl run")


async def serve_reporting(daemon: Daemon, who: str) -> int:
    """Run a daemon; turn a start failure into a located message and an exit code."""
    from rmdsl.errors import BrokerError, DiagnosticError, StoreError, render_all, stream_is_tty

    try:
        await daemon.serve()
    except DiagnosticError as exc:
        print(render_all(exc.diagnostics, color=stream_is_tty(sys.stderr)), file=sys.stderr)
        print(f"{who}: error: invalid ruleset, the daemon did not start", file=sys.stderr)
        return 1
    except BrokerError as exc:
        print(f"{who}: error: broker: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"{who}: error: {exc}", file=sys.stderr)
        return 2
    return 0
