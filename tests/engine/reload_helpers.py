"""A small line-based ruleset loader for the watcher tests, and a recorder of the callbacks.

The loader is the watcher's injected `load`: `extends: FILE` lines name bases
(relative paths), `error: TEXT` makes the load fail with a located diagnostic;
the digest covers every file's bytes, like the real pipeline's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from rmdsl.errors import CheckError, Diagnostic
from rmdsl.rules.model import NoStopLossGrace, Ruleset, SessionHours
from rmdsl.source import Span


def _chain(path: Path, seen: list[Path]) -> None:
    seen.append(path)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        key, _, value = line.partition(":")
        if key.strip() == "error":
            span = Span(line=number, col=1, end_line=number, end_col=len(line) + 1)
            diag = Diagnostic("RM099", value.strip(), str(path), span, source_line=line)
            raise CheckError([diag])
        if key.strip() == "extends":
            _chain((path.parent / value.strip()).resolve(), seen)


def line_loader(path: Path) -> Ruleset:
    files: list[Path] = []
    _chain(path.resolve(), files)
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    return Ruleset(
        name=path.stem,
        path=str(path),
        description="",
        timezone=ZoneInfo("America/Chicago"),
        reset=dt.time(17),
        session=SessionHours(),
        holidays=frozenset(),
        params={},
        rules=(),
        no_stop_loss_grace=NoStopLossGrace(),
        files=tuple(str(f) for f in files),
        digest=digest,
    )


class Recorder:
    """Collects on_valid / on_invalid calls; tests await the next one with a bound."""

    def __init__(self) -> None:
        self.valid: list[Ruleset] = []
        self.invalid: list[Sequence[Diagnostic]] = []
        self.valid_at: list[float] = []
        self._changed = asyncio.Condition()

    async def on_valid(self, ruleset: Ruleset) -> None:
        self.valid.append(ruleset)
        self.valid_at.append(time.perf_counter())
        async with self._changed:
            self._changed.notify_all()

    async def on_invalid(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.invalid.append(diagnostics)
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, valid: int = 0, invalid: int = 0, timeout: float = 5.0) -> None:
        """Until at least `valid` swaps and `invalid` rejections happened (bounded)."""

        def done() -> bool:
            return len(self.valid) >= valid and len(self.invalid) >= invalid

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(done), timeout)


def write(path: Path, text: str) -> None:
    path.write_text(text)


def atomic_write(path: Path, text: str) -> None:
    """How vim/VS Code save: a temporary file renamed over the original."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    tmp.replace(path)
