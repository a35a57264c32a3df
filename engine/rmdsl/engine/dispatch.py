"""Firings -> enforcement, now (a test, a reconcile) or in a task (the daemon's event loop).

In the daemon enforcement runs in tasks so that events keep flowing while the
broker answers (the SDK sleeps after a close); the closes a task sends carry the
rules that caused them (rmdsl.engine.origin.CAUSE), which the task inherits from
the context it starts in.
"""

from __future__ import annotations

import asyncio

from rmdsl.engine.evaluate import Firing
from rmdsl.engine.execute import Executor
from rmdsl.engine.origin import CAUSE
from rmdsl.engine.ports import Records, Retries, Send
from rmdsl.engine.resolve import resolve
from rmdsl.engine.writer import WriteBehind


class Dispatcher:
    """Sends what fired through the executor, and keeps the enforcement tasks it started."""

    def __init__(self, executor: Executor, store: WriteBehind) -> None:
        self.executor = executor
        self.store = store
        self.tasks: set[asyncio.Task[Records]] = set()

    async def dispatch(self, firings: list[Firing], wait: bool) -> Records:
        steps = resolve(firings)
        # lockouts take hold before the next event, even when their calls wait for a task
        reserved = await self.executor.reserve(steps)
        rules = frozenset(f.rule_id for f in firings)
        return await self.enforce(rules, lambda: self.executor.run(steps, reserved), wait)

    async def retry(self, due: Retries | None, wait: bool) -> Records:
        """The goals due now, tried again; a retry keeps its cause."""
        return [] if due is None else await self.enforce(due.rules, due.send, wait)

    async def enforce(self, rules: frozenset[str], send: Send, wait: bool) -> Records:
        """Run `send` now (wait) or as a task; the closes it sends carry `rules` as their
        cause (rmdsl.engine.origin), which a task inherits from the context it starts in."""
        cause = CAUSE.set(rules)
        try:
            if wait:
                self.store.seal()  # what caused it is not held back while the broker answers
                return await send()
            task = asyncio.create_task(send())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        finally:
            CAUSE.reset(cause)
        return []

    async def settle(self) -> None:
        """Wait until no enforcement task is running (their writes are queued, not committed)."""
        # a finished task leaves the set only in its done callback: awaiting it again would
        # never yield to that callback (a done future does not suspend)
        while pending := [t for t in self.tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
