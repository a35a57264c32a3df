"""`rmdsl run`: the enforcement daemon on one TopstepX account, until SIGINT/SIGTERM.

Flags > environment > config file > defaults (rmdsl.config) -> a Daemon over the
ProjectX adapter and the SQLite state store, holding the account's lock, its
alerts to the log and to the configured apprise URLs. Exit 0 on a clean shutdown, 1 for an invalid
ruleset, 2 for a usage, credential, connection or database error, or when
another daemon already enforces the account.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmdsl.commands import add_state_argument

if TYPE_CHECKING:
    from rmdsl.accounts import AccountEntry
    from rmdsl.alerting import AppriseNotifier
    from rmdsl.config import RunConfig
    from rmdsl.daemon import Daemon
    from rmdsl.notify import Notifier
    from rmdsl.recorder import SessionRecorder

RATE_WINDOW_S = 60.0  # rmdsl.notify.RATE_WINDOW_S, without importing it for --help
HELP = "run the enforcement daemon on a TopstepX account (until Ctrl-C / SIGTERM)"

ENV_RULESET = "RMDSL_RULESET"
ENV_CONFIG = "RMDSL_CONFIG"  # rmdsl.config.ENV_CONFIG, without importing pydantic for --help
ENV_CREDENTIALS = ("PROJECT_X_API_KEY", "PROJECT_X_USERNAME")


NO_RULESET = """\
no ruleset named: a real account is never enforced by a default ruleset
help: name the ruleset in one of three ways:
  --ruleset FILE        on the command line
  RMDSL_RULESET=FILE    in the environment
  ruleset = "FILE"      in the config file (--config, RMDSL_CONFIG, ~/.config/rmdsl/rmdsl.toml)
  the shipped rulesets/topstep.yaml is a personal ruleset on the Topstep 50K profile: copy it and
  set your own limits (docs/operations.md, "Choosing the ruleset")"""


def default_ruleset() -> Path:
    """rulesets/topstep.yaml: inside the wheel (rmdsl/rulesets), or the source checkout's.
    Only `rmdsl demo` (a simulated account) uses it: `rmdsl run` needs a ruleset named."""
    from importlib import resources

    packaged = resources.files("rmdsl") / "rulesets" / "topstep.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "rulesets" / "topstep.yaml"


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format", choices=("text", "json"), help="log lines on stderr (default text)"
    )
    parser.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), help="default info"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # no defaults here: a flag given wins over the environment and the config file, which
    # win over the model's defaults (rmdsl.config); None means "not given"
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"settings file (env {ENV_CONFIG}; default ~/.config/rmdsl/rmdsl.toml if present)",
    )
    parser.add_argument(
        "--ruleset",
        metavar="FILE",
        help=f"ruleset file (env {ENV_RULESET}, or `ruleset` in the config file; required: "
        "there is no default on a real account)",
    )
    parser.add_argument(
        "--account",
        metavar="NAME",
        help="TopstepX account name (env RMDSL_ACCOUNT or PROJECT_X_ACCOUNT_NAME)",
    )
    add_state_argument(parser)
    parser.add_argument(
        "--no-reload", action="store_true", help="do not watch the ruleset for changes"
    )
    parser.add_argument(
        "--alert-window",
        type=float,
        metavar="SECONDS",
        help=f"send an alert of one kind at most once per SECONDS (default {RATE_WINDOW_S:g}; "
        "0 sends every one)",
    )
    parser.add_argument(
        "--record",
        metavar="FILE.jsonl",
        default=None,
        help="record the session's gateway messages for `rmdsl replay`, one file per trading "
        "day: FILE-YYYY-MM-DD.jsonl",
    )
    add_logging_arguments(parser)
    from rmdsl.dashboard import add_arguments as add_dashboard_arguments

    add_dashboard_arguments(parser)


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (None: not given), by config key."""
    flags: dict[str, Any] = {
        key: getattr(args, key, None)
        for key in (
            "account",
            "ruleset",
            "state",
            "alert_window",
            "log_format",
            "log_file",
            "log_level",
            "record",  # --record (the recording's helper)
            "dashboard_port",  # --dashboard-port (the dashboard's helper)
        )
    }
    if getattr(args, "no_reload", False):
        flags["reload"] = False
    if getattr(args, "no_dashboard", False):
        flags["dashboard"] = False
    return flags


def settings(args: argparse.Namespace) -> RunConfig:
    """Flags > environment > config file > defaults; the credentials file read into the
    environment (which wins over it). ConfigError / CredentialsError: located."""
    from rmdsl import configfile, credentials
    from rmdsl.config import default_config_path, find_config

    path = find_config(getattr(args, "config", None))
    flags = flags_of(args)
    cfg = configfile.load(path, flags)
    secrets = cfg.credentials_file or default_config_path().with_name("credentials")
    if cfg.credentials_file is not None or secrets.is_file():
        before = dict(os.environ)
        credentials.load(secrets, os.environ)
        if os.environ.get("RMDSL_ALERT_URLS") != before.get("RMDSL_ALERT_URLS"):
            cfg = configfile.load(path, flags)  # the file's alert URLs count as the environment
    return cfg


def run(args: argparse.Namespace) -> int:
    from rmdsl.errors import DiagnosticError, print_diagnostics

    try:
        cfg = settings(args)
    except DiagnosticError as exc:
        print_diagnostics(exc.diagnostics)
        print("rmdsl run: error: invalid settings, the daemon did not start", file=sys.stderr)
        return 2
    missing = [name for name in ENV_CREDENTIALS if not os.environ.get(name)]
    if missing:
        print(
            f"rmdsl run: error: ProjectX credentials missing: set {' and '.join(missing)}\n"
            "help: the API key and user name of your TopstepX login (the practice account "
            "uses the same ones), in the environment or in a credentials file "
            "(docs/operations.md, 'Credentials')",
            file=sys.stderr,
        )
        return 2
    ruleset = named_ruleset(cfg)
    refused = _unrunnable(cfg, ruleset)
    if refused or ruleset is None:
        print(f"rmdsl run: error: {refused or NO_RULESET}", file=sys.stderr)
        return 2
    import asyncio

    from rmdsl.daemon import configure_logging

    log_file = str(cfg.log_file) if cfg.log_file else None
    configure_logging(cfg.log_format, log_file, cfg.log_level)
    return asyncio.run(_serve(cfg, ruleset, args))


def named_ruleset(cfg: RunConfig) -> Path | None:
    """The ruleset named by flag, environment or config file; with `accounts` each account
    may name its own instead. Never the shipped default: a real account is enforced only by
    a ruleset someone chose (docs/operations.md, "Choosing the ruleset")."""
    if cfg.ruleset is not None:
        return cfg.ruleset
    own = [a.ruleset for a in cfg.accounts if not isinstance(a, str) and a.ruleset is not None]
    return own[0] if cfg.accounts and len(own) == len(cfg.accounts) else None


def _unrunnable(cfg: RunConfig, ruleset: Path | None) -> str | None:
    """Why these settings cannot run (no account, no ruleset named, a missing ruleset file),
    or None."""
    if not cfg.account and not cfg.accounts:
        return (
            "no account: pass --account NAME, set RMDSL_ACCOUNT (or PROJECT_X_ACCOUNT_NAME), "
            "or `account` or `accounts` in the config file"
        )
    if cfg.accounts and cfg.record is not None:  # one file, one account: `rmdsl replay`'s
        return "--record records one account: run it with `account`, not `accounts`"
    if ruleset is None:
        return NO_RULESET
    for path in {ruleset, *(e.ruleset for e in cfg.account_entries(ruleset))}:
        if not path.is_file():
            return f"no ruleset file at {path}"
    return None


def load_sdk_quietly() -> None:
    """Import the SDK now and route its loggers (which print INFO to stdout) through ours."""
    import rmdsl.broker.projectx_sdk  # noqa: F401  (the adapter's import of project_x_py)
    from rmdsl.daemon import tame_sdk_loggers

    tame_sdk_loggers()


async def _serve(cfg: RunConfig, ruleset: Path, args: argparse.Namespace) -> int:
    from rmdsl.dashboard import options_of
    from rmdsl.store import SqliteStore
    from rmdsl.store.db import default_path
    from rmdsl.store.lock import default_lock_dir

    load_sdk_quietly()
    notifier, phone = build_notifier(cfg)
    recorder = _recorder(cfg.record, ruleset, notifier) if cfg.record is not None else None
    options: dict[str, Any] = {
        "reload": cfg.reload,
        "timeout_s": cfg.broker_timeout,
        "unreconciled_alert_s": cfg.unreconciled_alert,
        "lock_dir": cfg.lock_dir or default_lock_dir(),  # one daemon per account on this host
        "dashboard": options_of(cfg.dashboard, cfg.dashboard_port),
    }
    tap = recorder.put if recorder is not None else None
    store = SqliteStore(cfg.state or default_path())
    daemon = _daemon(cfg, ruleset, args, store, notifier, tap, options)
    try:
        if recorder is None:
            return await serve_reporting(daemon, "rmdsl run")
        async with recorder:  # the last lines are written after the daemon stopped
            return await serve_reporting(daemon, "rmdsl run")
    finally:
        if phone is not None:
            await phone.aclose()  # the last alerts (the shutdown's) still go out, briefly


def _daemon(
    cfg: RunConfig,
    ruleset: Path,
    args: argparse.Namespace,
    store: Any,
    notifier: Notifier,
    tap: Any,
    options: dict[str, Any],
) -> Daemon:
    """One account (`account`), or every account `accounts` names under one login, the
    config file followed while running (docs/operations.md, "Many accounts")."""
    from rmdsl.broker.projectx import ProjectXBroker
    from rmdsl.daemon import Daemon

    if not cfg.accounts:
        assert cfg.account is not None
        return Daemon(ruleset, ProjectXBroker(cfg.account, tap=tap), store, notifier, **options)
    from rmdsl.broker.projectx_fleet import ProjectXLogin
    from rmdsl.config import find_config

    async def reconfigure() -> list[AccountEntry]:
        import asyncio

        fresh = await asyncio.to_thread(settings, args)  # ConfigError: the running one stays
        return fresh.account_entries(named_ruleset(fresh) or ruleset)  # never the default

    return Daemon.for_accounts(
        cfg.account_entries(ruleset),
        ProjectXLogin(tap=tap),
        store,
        notifier,
        reconfigure=reconfigure,
        config_path=find_config(getattr(args, "config", None)),
        **options,
    )


def build_notifier(cfg: RunConfig) -> tuple[Notifier, AppriseNotifier | None]:
    """The log, and the alert URLs when there are any, behind one rate limiter."""
    from rmdsl.alerting import AppriseNotifier, FanoutNotifier
    from rmdsl.notify import LogNotifier, RateLimitedNotifier

    phone = None
    sinks: list[Notifier] = [LogNotifier()]
    if cfg.alert_urls:
        phone = AppriseNotifier(
            cfg.alert_urls, retries=cfg.alert_retries, timeout_s=cfg.alert_timeout
        )
        sinks.append(phone)
    inner = sinks[0] if phone is None else FanoutNotifier(*sinks)
    return RateLimitedNotifier(inner, cfg.alert_window), phone


def _recorder(record: Path, ruleset: Path, notifier: Notifier) -> SessionRecorder:
    """Files per trading day of the ruleset's calendar at start (a ruleset that does not
    load falls back to the default calendar: the daemon then refuses to start anyway)."""
    from rmdsl.engine.tradingday import Calendar
    from rmdsl.errors import RmdslError
    from rmdsl.pipeline import load_ruleset
    from rmdsl.recorder import SessionRecorder

    try:
        calendar = Calendar.of(load_ruleset(ruleset))
        day = calendar.trading_day
    except (RmdslError, OSError):
        import datetime
        from zoneinfo import ZoneInfo

        from rmdsl.engine.tradingday import trading_day

        def day(ts: datetime.datetime) -> datetime.date:  # the default 17:00 Chicago reset
            return trading_day(ts, ZoneInfo("America/Chicago"), datetime.time(17, 0))

    return SessionRecorder(record, day, notifier)


async def serve_reporting(daemon: Daemon, who: str) -> int:
    """Run a daemon; turn a start failure into a located message and an exit code."""
    from rmdsl.errors import BrokerError, DiagnosticError, StoreError, print_diagnostics

    try:
        await daemon.serve()
    except DiagnosticError as exc:
        print_diagnostics(exc.diagnostics)
        print(f"{who}: error: invalid ruleset, the daemon did not start", file=sys.stderr)
        return 1
    except BrokerError as exc:
        print(f"{who}: error: broker: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"{who}: error: {exc}", file=sys.stderr)
        return 2
    return 0
