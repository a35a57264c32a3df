"""Hot reload: watch a ruleset and every file it extends; on a change, load it and hand it over.

A valid change goes to `on_valid` (the engine's swap, which keeps state and
lockouts); an invalid one keeps the running ruleset and goes to `on_invalid`
with located diagnostics. The directories of the files are watched, not the
files, so an editor's write-to-temp-then-rename save is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import watchfiles

from rmdsl import filewatch
from rmdsl.errors import Diagnostic, DiagnosticError, RmdslError, render_all
from rmdsl.filewatch import DEBOUNCE_MS
from rmdsl.lifecycle import Service
from rmdsl.rules.model import Ruleset

log = logging.getLogger(__name__)

Loader = Callable[[Path], Ruleset]
OnValid = Callable[[Ruleset], Awaitable[None]]
OnInvalid = Callable[[Sequence[Diagnostic]], Awaitable[None]]

READ_ERROR_CODE = "RM013"


class RejectionLog(Protocol):
    """Where refused reloads are recorded (rmdsl.store.SqliteStore implements it)."""

    async def record_ruleset_rejection(
        self, path: str, error: str, at: dt.datetime, digest: str = "", name: str = ""
    ) -> None: ...


def _default_loader(path: Path) -> Ruleset:
    from rmdsl.pipeline import load_ruleset  # imported late: the pipeline pulls in lark

    return load_ruleset(path)


class RulesetWatcher(Service):
    """`async with RulesetWatcher(path, on_valid, on_invalid, current=rs):` reloads until exit."""

    def __init__(
        self,
        path: Path | str,
        on_valid: OnValid,
        on_invalid: OnInvalid,
        *,
        current: Ruleset | None = None,
        load: Loader | None = None,
        rejections: RejectionLog | None = None,
        debounce_ms: int = DEBOUNCE_MS,
        load_in_thread: bool = True,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self.current = current
        self._on_valid = on_valid
        self._on_invalid = on_invalid
        self._load = load or _default_loader
        self._rejections = rejections
        self._debounce_ms = debounce_ms
        self._load_in_thread = load_in_thread
        self._clock = clock
        self._extra: set[str] = set()  # files named by the last failure's diagnostics
        self._stop = asyncio.Event()
        self._rewatch = asyncio.Event()
        # set once the directories are being watched: a save after this is never missed
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reloads = 0  # successful swaps
        self.rejected = 0
        self.last_reload_ms: float | None = None  # change seen -> on_valid returned

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"reload:{self.path.name}")

    async def stop(self, timeout: float = 5.0) -> None:
        """End the watch task: it exits at its next check of the stop event (<= one step)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._rewatch.set()
        await filewatch.end(task, timeout)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def watched(self) -> frozenset[str]:
        """The files whose change triggers a reload: the ruleset and everything it extends."""
        files: set[str] = set(filewatch.keys(self.path))
        if self.current is not None:
            for f in self.current.files:
                files |= filewatch.keys(f)
        return frozenset(files | self._extra)

    # --- the watch loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._rewatch.clear()
            self.ready.clear()
            watched = self.watched
            dirs = sorted(
                {os.path.dirname(f) for f in watched if os.path.isdir(os.path.dirname(f))}
            )
            if not dirs:
                log.error("hot reload: no directory of %s exists; not watching", self.path)
                return
            changes = filewatch.changes(dirs, watched, self._debounce_ms, self._rewatch)
            async with contextlib.aclosing(changes) as stream:
                # waiters resume only once the generator below has installed its watches
                self.ready.set()
                async for batch in stream:
                    await self._on_change(batch)
                    if self.watched != watched:
                        break  # extends changed: watch the new set of directories

    async def _on_change(self, batch: Iterable[tuple[watchfiles.Change, str]]) -> None:
        seen = time.perf_counter()
        log.debug("hot reload: %s changed", sorted(p for _, p in batch))
        await self.reload(started=seen)

    async def reload(self, started: float | None = None) -> bool:
        """Load the ruleset now; True when a new version went to on_valid."""
        started = time.perf_counter() if started is None else started
        try:
            new = await self._call_loader()
        except DiagnosticError as exc:
            await self._reject(exc.diagnostics)
            return False
        except (OSError, RmdslError) as exc:
            await self._reject([self._read_error(exc)])
            return False
        except Exception as exc:  # a pipeline bug must not stop enforcement on the old rules
            log.exception("hot reload: internal error loading %s", self.path)
            await self._reject([self._read_error(exc, internal=True)])
            return False
        self._extra.clear()
        if self.current is not None and new.digest == self.current.digest:
            return False  # saved without a change: nothing to swap
        try:
            await self._on_valid(new)
        except Exception:
            log.exception(
                "hot reload: the engine refused %s; keeping the running ruleset", new.path
            )
            return False
        self.current = new
        self.reloads += 1
        self.last_reload_ms = (time.perf_counter() - started) * 1000
        log.info(
            "hot reload: %s %s active (%.1f ms)", new.name, new.digest[:12], self.last_reload_ms
        )
        return True

    async def _call_loader(self) -> Ruleset:
        if self._load_in_thread:
            # parsing takes milliseconds: keep the event loop free for enforcement meanwhile
            return await asyncio.to_thread(self._load, self.path)
        return self._load(self.path)

    def _read_error(self, exc: BaseException, internal: bool = False) -> Diagnostic:
        what = "internal error while loading" if internal else "cannot load"
        return Diagnostic(
            code=READ_ERROR_CODE,
            message=f"{what} the ruleset: {exc}",
            path=str(self.path),
            span=None,
            hint="the running ruleset stays active; fix the file and save again",
        )

    async def _reject(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.rejected += 1
        errors = [d for d in diagnostics if d.is_error] or list(diagnostics)
        text = render_all(errors)
        log.error("hot reload refused, the running ruleset stays active:\n%s", text)
        self._extra = {
            k for d in errors if d.path and os.path.isfile(d.path) for k in filewatch.keys(d.path)
        }
        if self._rejections is not None:
            try:
                await self._rejections.record_ruleset_rejection(str(self.path), text, self._clock())
            except RmdslError as exc:
                log.critical("hot reload: cannot record the rejected version: %s", exc)
        try:
            await self._on_invalid(errors)
        except Exception:
            log.exception("hot reload: on_invalid failed")
