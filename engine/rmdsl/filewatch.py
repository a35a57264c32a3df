"""Watching files for the two hot reloads: the ruleset's (rmdsl.engine.reload) and the config's
(rmdsl.configwatch).

Both watch the files' directories, not the files, so that an editor's
write-to-temp-then-rename save is seen, wait out the several writes of one
save, and end their watch task the same way; this module is that one way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Collection, Iterable
from pathlib import Path

import watchfiles

DEBOUNCE_MS = 50  # editors save in several writes; wait this long after the last one

Changes = AsyncGenerator[set[tuple[watchfiles.Change, str]], None]


def keys(path: str | Path) -> set[str]:
    """The spellings under which the file watcher may report `path`."""
    absolute = os.path.abspath(path)
    return {absolute, os.path.realpath(absolute)}


def changes(
    dirs: Iterable[str], files: Collection[str], debounce_ms: int, stop: asyncio.Event
) -> Changes:
    """The batches of changes to `files` (spelled as `keys` gives them) seen in `dirs`, until
    `stop` is set: a batch waits `debounce_ms` after the last write (at most 40 times that, at
    least 1 s, for one save)."""

    def accept(_change: watchfiles.Change, path: str) -> bool:
        return path in files

    return watchfiles.awatch(
        *dirs,
        watch_filter=accept,
        debounce=max(debounce_ms * 40, 1_000),
        step=debounce_ms,
        stop_event=stop,
        recursive=False,
    )


async def end(task: asyncio.Task[None], timeout: float) -> None:
    """Wait for a watch task told to stop (it exits at its next step); cancel it after
    `timeout` seconds."""
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
