"""rmdsl.commands: one module per subcommand; the options several of them share are here."""

from __future__ import annotations

import argparse

STATE_HELP = "state database (env RMDSL_STATE; default ~/.risk_manager/state.db)"


def add_state_argument(parser: argparse.ArgumentParser, help: str = STATE_HELP) -> None:
    """`--state PATH` (also `--state-db`): the state database a command opens."""
    parser.add_argument("--state", "--state-db", dest="state", metavar="PATH", help=help)
