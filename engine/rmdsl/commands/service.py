"""`rmdsl service install|uninstall|status`: run the daemon as a systemd user service.

The unit goes to `$XDG_CONFIG_HOME/systemd/user/rmdsl.service` (~/.config/...),
where `systemctl --user` finds it; it runs `rmdsl run --config FILE` by absolute
paths and restarts it when it fails. Credentials stay out of the unit: the
config's `credentials_file` holds them (docs/operations.md, "Run it as a service").
Without systemctl the unit is still written, and the commands to run are printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HELP = "install, remove or show the systemd user service that runs `rmdsl run --config`"
UNIT = "rmdsl.service"

TEMPLATE = """\
# Written by `rmdsl service install`; `rmdsl service uninstall` removes it.
[Unit]
Description=rmdsl: risk rules enforced on a TopstepX account
Wants=network-online.target
After=network-online.target
# a failing start is retried for ever, at most every RestartSec, never given up on
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={exec_start}
# SIGTERM: the daemon finishes enforcement in flight, saves its state and exits 0
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=15
# exit 1: the ruleset is invalid; restarting cannot fix it (`rmdsl check` says why)
RestartPreventExitStatus=1
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "uninstall", "status"))
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the config file the service runs with (default: $RMDSL_CONFIG, then "
        "~/.config/rmdsl/rmdsl.toml)",
    )
    parser.add_argument(
        "--print", action="store_true", help="print the unit instead of installing it"
    )


def unit_path() -> Path:
    from rmdsl.config import config_home

    return config_home() / "systemd" / "user" / UNIT


def rmdsl_command() -> list[str]:
    """This rmdsl, by absolute path (systemd has no PATH of the user's shell)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "rmdsl" and argv0.is_file():
        return [str(argv0.absolute())]
    found = shutil.which("rmdsl")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "rmdsl"]


def render(config: Path) -> str:
    argv = [*rmdsl_command(), "run", "--config", str(config)]
    return TEMPLATE.format(exec_start=" ".join(_quoted(a) for a in argv))


def _quoted(arg: str) -> str:
    """systemd's quoting: a word with a space or quote goes in double quotes."""
    if any(c in arg for c in ' "\\'):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def run(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _status()
    if args.action == "uninstall":
        return _uninstall()
    return _install(args.config, args.print)


def _config(explicit: str | None) -> Path:
    from rmdsl.config import default_config_path, find_config

    return (find_config(explicit) or default_config_path()).absolute()


def _install(explicit: str | None, print_only: bool) -> int:
    config = _config(explicit)
    text = render(config)
    if print_only:
        print(text, end="")
        return 0
    if not config.is_file():
        print(
            f"rmdsl service: error: no config file at {config}\n"
            "help: write one first (docs/operations.md, 'The config file'), and check it "
            "with `rmdsl run --config FILE` in a terminal",
            file=sys.stderr,
        )
        return 2
    if not _names_a_ruleset(config):
        return 2
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    commands = [["daemon-reload"], ["enable", "--now", UNIT]]
    code = _systemctl(commands)
    print(
        "so that it runs while you are logged out and starts at boot: "
        "`loginctl enable-linger $USER`\n"
        f"its log: `journalctl --user -u {UNIT} -f`"
    )
    return code


def _names_a_ruleset(config: Path) -> bool:
    """The unit runs `rmdsl run --config FILE` without the shell's environment, and `rmdsl run`
    has no default ruleset on a real account: the file itself must name one."""
    from rmdsl import configfile
    from rmdsl.commands.run import named_ruleset
    from rmdsl.errors import DiagnosticError

    try:
        named = named_ruleset(configfile.load(config, {}, env={}))  # the file alone
    except DiagnosticError:
        return True  # `rmdsl run --config FILE` shows the located error: one place says it
    if named is not None:
        return True
    print(
        f"rmdsl service: error: {config} names no ruleset, and the service never runs a "
        'default one\nhelp: add a line `ruleset = "/path/to/your-ruleset.yaml"` to it '
        "(docs/operations.md, 'Choosing the ruleset')",
        file=sys.stderr,
    )
    return False


def _uninstall() -> int:
    path = unit_path()
    if not path.exists():
        print(f"rmdsl service: not installed (no {path})")
        return 0
    code = _systemctl([["disable", "--now", UNIT]])
    path.unlink()
    print(f"removed {path}")
    return _systemctl([["daemon-reload"]]) or code


def _systemctl(commands: list[list[str]]) -> int:
    """Run `systemctl --user` commands in turn; without systemctl, say what to run."""
    systemctl = shutil.which("systemctl")
    lines = [" ".join(["systemctl", "--user", *c]) for c in commands]
    if systemctl is None:
        print("systemctl is not available here; run these where systemd is:")
        print("\n".join(f"  {line}" for line in lines))
        return 0
    for command, line in zip(commands, lines, strict=True):
        done = subprocess.run(
            [systemctl, "--user", *command], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(
                f"rmdsl service: error: `{line}` failed ({done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}\n"
                "help: is there a user systemd (a login session, or `loginctl enable-linger`)? "
                "The remaining commands, by hand: " + "; ".join(lines),
                file=sys.stderr,
            )
            return 1
        print(f"ran `{line}`")
    return 0


def _status() -> int:
    path = unit_path()
    if not path.exists():
        print(f"not installed (no {path}); `rmdsl service install` writes it")
        return 1
    exec_start = next(
        (
            ln.split("=", 1)[1]
            for ln in path.read_text().splitlines()
            if ln.startswith("ExecStart=")
        ),
        "?",
    )
    print(f"installed: {path}\n  runs: {exec_start}")
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        print("  state: unknown (systemctl is not available here)")
        return 0
    done = subprocess.run(
        [systemctl, "--user", "is-active", UNIT], capture_output=True, text=True, check=False
    )
    print(f"  state: {done.stdout.strip() or done.stderr.strip() or 'unknown'}")
    return 0
