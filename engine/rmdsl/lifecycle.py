"""One `async with` protocol for everything that is started and stopped (servers, watchers)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Service:
    """Subclasses define start() and stop(); `async with` calls them, stop() even on error."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
