"""`rmdsl check FILE...`: parse, resolve extends, type-check and lint rulesets.

Exit 0 when every file is valid (warnings allowed), 1 when any is invalid,
2 on a usage or I/O error (missing file, unreadable, or not a regular file: a
directory, a device or a FIFO is refused from a stat, never opened or read).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmdsl.pipeline import CheckResult

HELP = "check ruleset files: syntax, types, extends, NoStopLossGrace policy and lints"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="ruleset YAML files")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default) or json (for editors and CI)",
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text output (auto: only on a terminal)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print errors only, no warnings or summary"
    )


def run(args: argparse.Namespace) -> int:
    from rmdsl.errors import stream_is_tty

    color = args.color == "always" or (args.color == "auto" and stream_is_tty(sys.stdout))
    reports: list[dict[str, object]] = []
    worst = 0
    for path in args.files:
        result, io_error = _check_one(path)
        if io_error is not None:
            worst = 2
            reports.append({"path": path, "ok": False, "error": io_error, "diagnostics": []})
            if args.format == "text":
                print(f"{path}: error: {io_error}", file=sys.stderr)
            continue
        assert result is not None
        worst = max(worst, 0 if result.ok else 1)
        if args.format == "json":
            reports.append(_json_report(path, result))
        else:
            _print_text(path, result, color, args.quiet)
    if args.format == "json":
        import json

        print(json.dumps({"ok": worst == 0, "files": reports}, indent=2))
    return worst


def _check_one(path: str) -> tuple[CheckResult | None, str | None]:
    from rmdsl.pipeline import check_ruleset
    from rmdsl.source import NotRegularFileError

    try:
        return check_ruleset(path), None
    except FileNotFoundError:
        return None, "no such file"
    except NotRegularFileError as exc:
        return None, str(exc.strerror)  # refused unopened: a directory, FIFO or device
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"


def _print_text(path: str, result: CheckResult, color: bool, quiet: bool) -> None:
    from rmdsl.errors import render_all

    shown = [d for d in result.diagnostics if d.is_error or not quiet]
    if shown:
        print(render_all(shown, color))
        print()
    if not quiet or not result.ok:
        print(summary(path, result))


def summary(path: str, result: CheckResult) -> str:
    """`topstep.yaml: ok, 3 rules + no_stop_loss_grace (2m), 5 params, extends 1 file`."""
    errors = sum(1 for d in result.diagnostics if d.is_error)
    warnings = len(result.diagnostics) - errors
    warned = f", {_plural(warnings, 'warning')}" if warnings else ""
    if result.ruleset is None:
        return f"{path}: invalid, {_plural(errors, 'error')}{warned}"
    rs = result.ruleset
    from rmdsl.lang.literals import format_duration

    grace = format_duration(rs.no_stop_loss_grace.grace_ms)
    rules = f"{_plural(len(rs.rules), 'rule')} + no_stop_loss_grace ({grace})"
    parts = [rules, _plural(len(rs.params), "param")]
    if len(rs.files) > 1:
        parts.append(f"extends {_plural(len(rs.files) - 1, 'file')}")
    return f"{path}: ok, {', '.join(parts)}{warned}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _json_report(path: str, result: CheckResult) -> dict[str, object]:
    rs = result.ruleset
    return {
        "path": path,
        "ok": result.ok,
        "files": list(result.files),
        "rules": [r.id for r in rs.rules] + ["no_stop_loss_grace"] if rs else [],
        "digest": rs.digest if rs else None,
        "diagnostics": [d.to_json() for d in result.diagnostics],
    }
