"""What a ProjectX connection is built from: credentials, endpoints, the SDK factory, the day.

Kept apart from the adapter (projectx.py) so that projectx_sdk, which builds
the real SDK objects from these settings, does not import the adapter that
imports it lazily (no import cycle; tests/test_layers.py).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from rmdsl.engine.tradingday import last_reset
from rmdsl.errors import BrokerError

ENV_API_KEY = "PROJECT_X_API_KEY"
ENV_USERNAME = "PROJECT_X_USERNAME"
CHICAGO = ZoneInfo("America/Chicago")

DayStart = Callable[[dt.datetime], dt.datetime]


def default_day_start(now: dt.datetime) -> dt.datetime:
    """The default trading day (docs/operations.md): from the last 17:00 America/Chicago."""
    return last_reset(now, CHICAGO, dt.time(17, 0))


@dataclass(frozen=True, slots=True)
class ProjectXSettings:
    """Credentials and optional endpoint overrides (None: the SDK's env/default configuration)."""

    username: str
    api_key: str
    api_url: str | None = None
    user_hub_url: str | None = None
    market_hub_url: str | None = None

    @classmethod
    def resolve(
        cls, api_key: str | None, username: str | None, urls: tuple[str | None, ...]
    ) -> ProjectXSettings:
        """The given credentials, else the environment's; BrokerError names what is missing."""
        key = api_key or os.environ.get(ENV_API_KEY, "")
        user = username or os.environ.get(ENV_USERNAME, "")
        missing = [n for n, v in ((ENV_API_KEY, key), (ENV_USERNAME, user)) if not v]
        if missing:
            raise BrokerError(
                f"ProjectX credentials missing: set {' and '.join(missing)} "
                "(or pass api_key= / username=)"
            )
        return cls(user, key, *urls)


class SdkFactory(Protocol):
    """Builds the SDK objects; the default is projectx_sdk.ProjectXSdk, tests pass the mock SDK."""

    async def login(self, settings: ProjectXSettings) -> Any:
        """An open, authenticated ProjectX client."""

    async def open_suite(self, client: Any) -> Any:
        """A TradingSuite-shaped object: .client .realtime .orders .positions .events."""

    async def logout(self, client: Any) -> None: ...
