"""ProjectX credentials: from the environment, or from a file that only its owner may read.

Never from `rmdsl.toml` (rmdsl.configfile refuses them there): a config file gets
copied, shared and committed; a credentials file is checked to be the user's own
and unreadable by anyone else (mode & 0o077 == 0), like ssh checks its keys.
The file holds `NAME=value` lines (`#` comments, optional quotes), the format of
a systemd EnvironmentFile.
"""

from __future__ import annotations

import os
import stat
from collections.abc import MutableMapping
from pathlib import Path

from rmdsl.errors import Diagnostic, DiagnosticError

NAMES = ("PROJECT_X_API_KEY", "PROJECT_X_USERNAME")
# what else the file may carry: alert URLs hold their service's token (tgram://TOKEN/CHAT)
ALSO = ("RMDSL_ALERT_URLS",)


class CredentialsError(DiagnosticError):
    """The credentials file is unsafe, unreadable or malformed."""


def _error(path: Path, message: str, hint: str, line: int | None = None) -> CredentialsError:
    from rmdsl.source import Span

    span = Span.point(line, 1) if line else None
    return CredentialsError([Diagnostic("RM904", message, str(path), span, hint=hint)])


def check_private(path: Path) -> None:
    """CredentialsError unless `path` is a regular file of this user that no one else can read."""
    try:
        info = path.stat()
    except OSError as exc:
        raise _error(
            path,
            f"cannot read the credentials file: {exc.strerror or exc}",
            "create it with PROJECT_X_API_KEY=... and PROJECT_X_USERNAME=... lines, "
            "then `chmod 600` it",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise _error(path, "the credentials file is not a regular file", "name a file")
    if info.st_uid != os.getuid():
        raise _error(
            path,
            f"the credentials file belongs to uid {info.st_uid}, not to you (uid {os.getuid()})",
            f"`chown {os.getuid()} {path}`, or use a file of your own",
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise _error(
            path,
            f"the credentials file can be read or written by others (mode {mode:04o})",
            f"`chmod 600 {path}`: only you may read it",
        )


def read(path: Path) -> dict[str, str]:
    """The NAME=value pairs of a checked credentials file."""
    check_private(path)
    out: dict[str, str] = {}
    text = path.read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip().strip("'\"")
        if not eq or name not in NAMES + ALSO:
            # the line itself is never shown: it may hold the key
            raise _error(
                path,
                f"line {number} is not one of {', '.join(f'{n}=...' for n in NAMES + ALSO)}",
                "one NAME=value per line; # starts a comment",
                number,
            )
        out[name] = value
    return out


def load(path: Path | None, env: MutableMapping[str, str]) -> list[str]:
    """Fill `env` with what the file gives and the environment lacks (the environment wins);
    return the credentials still missing."""
    if path is not None:
        for name, value in read(path).items():
            if not env.get(name):
                env[name] = value
    return [name for name in NAMES if not env.get(name)]
