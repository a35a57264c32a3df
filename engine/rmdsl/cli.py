"""`rmdsl` command line: argv -> exit code. Each subcommand lives in rmdsl.commands.<name>.

A command module exposes `HELP: str`, `add_arguments(parser)` and
`run(args) -> int`, and keeps its top level light (heavy imports inside
`run`): `rmdsl check` must start cold in well under half a second.
Exit codes: 0 ok, 1 invalid input / failed check, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from rmdsl import __version__

COMMANDS = (
    "check",
    "schema",
    "test",
    "replay",
    "run",
    "demo",
    "status",
    "history",
    "service",
    "sim",
)


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"rmdsl.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"rmdsl.commands.{name}":
            return None  # not built yet
        raise


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="rmdsl", description="Risk rules for TopstepX futures accounts."
    )
    parser.add_argument("--version", action="version", version=f"rmdsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = modules[args.command].run(args)
        return result
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (RecursionError, MemoryError) as exc:
        print(f"rmdsl: error: input too large to process ({type(exc).__name__})", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rmdsl: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the last line of defence: never a traceback for users
        print(
            f"rmdsl: internal error: {type(exc).__name__}: {exc}\n"
            "help: this is a bug in rmdsl; please report it with the input that caused it",
            file=sys.stderr,
        )
        return 2
