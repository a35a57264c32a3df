"""Hot reload of the config file: the accounts it names are followed while the daemon runs.

On a save, `on_change` reads the file again and applies the accounts it names
(rmdsl.daemon.Daemon.apply: new ones start, removed ones stop). A broken edit
(ConfigError, located like `rmdsl check`'s) never replaces the working config:
the accounts run on, the error is logged and alerted (docs/operations.md,
"Many accounts"). Settings other than the accounts take effect at the next start.
The file's directory is watched, so an editor's write-to-temp-then-rename is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from rmdsl import filewatch
from rmdsl.errors import DiagnosticError, RmdslError, render_all
from rmdsl.filewatch import DEBOUNCE_MS
from rmdsl.lifecycle import Service
from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.daemon")


class ConfigWatcher(Service):
    """`await ConfigWatcher(path, on_change, notifier).start()` ... `.stop()`."""

    def __init__(
        self,
        path: Path,
        on_change: Callable[[], Awaitable[None]],
        notifier: Notifier,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        self.path = Path(os.path.abspath(path))
        self._on_change = on_change
        self.notifier = notifier
        self._debounce_ms = debounce_ms
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once the directory is watched
        self._task: asyncio.Task[None] | None = None
        self.applied = 0  # edits applied
        self.refused = 0  # edits refused (the running config kept)

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=f"config:{self.path.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        await filewatch.end(task, 5.0)

    async def _run(self) -> None:
        keys = filewatch.keys(self.path)
        changes = filewatch.changes([str(self.path.parent)], keys, self._debounce_ms, self._stop)
        async with contextlib.aclosing(changes) as stream:
            self.ready.set()
            async for _batch in stream:
                await self.reload()

    async def reload(self) -> bool:
        """Read and apply the config now; False when it was refused (the running one kept)."""
        try:
            await self._on_change()
        except DiagnosticError as exc:
            self._refuse(render_all(exc.diagnostics))
            return False
        except RmdslError as exc:  # the login's account list could not be read, ...
            self._refuse(str(exc))
            return False
        except Exception as exc:  # a bug here must not stop the accounts
            log.exception("config reload: internal error")
            self._refuse(f"internal error: {exc}")
            return False
        self.applied += 1
        log.warning("config reloaded from %s", self.path)
        return True

    def _refuse(self, text: str) -> None:
        self.refused += 1
        log.error("config reload refused, the running accounts stay as they are:\n%s", text)
        self.notifier.alert(
            "warning",
            "config reload refused",
            f"{self.path}: the running accounts stay as they are:\n{text}",
            {"path": str(self.path)},
        )
