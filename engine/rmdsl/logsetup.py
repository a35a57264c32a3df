"""Daemon logging: JSON or text lines (stamped on the running ruleset's clock), to stderr
and/or a file, and the SDK's own loggers routed through them (rmdsl.daemon re-exports these).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

# ---- logging ------------------------------------------------------------------------------------
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STD_ATTRS})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ZonedFormatter(logging.Formatter):
    """Text lines stamped on the running ruleset's clock, zone named
    (`2026-11-30 14:02:11,123 CST`): the times the trader's limits are written in."""

    zone: dt.tzinfo | None = None  # the daemon sets it; None: the machine's own zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        local = dt.datetime.fromtimestamp(record.created, dt.UTC).astimezone(self.zone)
        return f"{local:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d} {local.tzname()}"


def configure_logging(
    fmt: str = "text", log_file: str | None = None, level: str = "info", stderr: bool = True
) -> None:
    """Root logging for the daemon: stderr and/or a file, as JSON lines or text lines."""
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else ZonedFormatter(TEXT_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)] if stderr else []
    if log_file:
        handlers.append(logging.FileHandler(Path(log_file).expanduser(), encoding="utf-8"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
    tame_sdk_loggers()


QUIET_LOGGERS = ("project_x_py", "httpx", "httpcore", "aiohttp.access", "pysignalr", "websockets")


def tame_sdk_loggers() -> None:
    """The SDK gives each of its loggers an INFO handler on stdout: route them through ours.

    stdout belongs to the command (the demo's table, --json output); the SDK's
    warnings and errors still reach the daemon's handlers through the root logger.
    """
    floor = max(logging.getLogger().level, logging.WARNING)
    # loggers named after SDK modules are created lazily (in __init__): make them all now
    names = set(logging.Logger.manager.loggerDict) | set(sys.modules)
    for name in sorted(names):
        if name == "project_x_py" or name.startswith("project_x_py."):
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            # a dummy handler: the SDK configures only loggers that have none
            logger.addHandler(logging.NullHandler())
            logger.propagate = True
            logger.setLevel(floor)
