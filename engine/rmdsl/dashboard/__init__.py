"""The daemon's read-only web page, /metrics and /healthz (docs/operations.md, "Dashboard").

`DashboardOptions` is what `rmdsl run` / `rmdsl demo` take on the command line;
`rmdsl.dashboard.server.Dashboard` serves it inside the daemon's event loop.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

DEFAULT_PORT = 8787
DEFAULT_INTERVAL_MS = 250


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """Where the page is served; port 0 picks a free one (tests). Only 127.0.0.1 by default:
    the page shows the account's P&L and has no login."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    interval_ms: int = DEFAULT_INTERVAL_MS  # the fastest the page is pushed a new snapshot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--dashboard-port N` / `--no-dashboard`, as `rmdsl run` and `rmdsl demo` take them."""
    parser.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        metavar="PORT",
        help=f"serve the live page, /metrics and /healthz on 127.0.0.1:PORT (default "
        f"{DEFAULT_PORT}; 0 picks a free port)",
    )
    parser.add_argument(
        "--no-dashboard", action="store_true", help="serve no page, /metrics or /healthz"
    )


def options_of(enabled: bool, port: int | None) -> DashboardOptions | None:
    """`rmdsl run`'s settings (flags > environment > config file) -> what the daemon serves."""
    if not enabled:
        return None
    return DashboardOptions(port=DEFAULT_PORT if port is None else port)


def options_from(args: argparse.Namespace) -> DashboardOptions | None:
    """The flags alone (`rmdsl demo`, which reads no config file)."""
    return options_of(not args.no_dashboard, args.dashboard_port)
