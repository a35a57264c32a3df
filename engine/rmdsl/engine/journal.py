"""Where the engine's parts queue their writes: the write-behind store, failures alerted.

Every part that persists (the step loop, the executor's lockouts, restore, the
fill book) writes through one Journal, so a store failure is handled one way:
logged critically and alerted, never raised into enforcement (docs/engine.md,
"Persistence").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from rmdsl.errors import StoreError
from rmdsl.notify import Notifier

if TYPE_CHECKING:  # annotations only: the daemon's account claim uses persist_or_alert too
    from rmdsl.engine.evaluate import TimerChanges
    from rmdsl.engine.writer import WriteBehind

log = logging.getLogger("rmdsl.engine")


async def persist_or_alert(
    write: Awaitable[None], notifier: Notifier, logger: logging.Logger = log
) -> None:
    """Await a store write; a StoreError is logged and alerted, not raised."""
    try:
        await write
    except StoreError as exc:
        logger.critical("state store failure: %s", exc)
        notifier.alert("critical", "state store failure", str(exc), {})


class Journal:
    """One account's writes: `store` only appends them to the step's batch (WriteBehind)."""

    def __init__(self, store: WriteBehind, notifier: Notifier, account_id: int) -> None:
        self.store = store
        self.notifier = notifier
        self.account_id = account_id

    async def persist(self, write: Awaitable[None]) -> None:
        await persist_or_alert(write, self.notifier)

    async def timers(self, changes: TimerChanges) -> None:
        """The timers a step started and cancelled."""
        for rec in changes.started:
            await self.persist(self.store.start_timer(rec))
        for key in changes.cancelled:
            await self.persist(self.store.cancel_timer(self.account_id, key))
