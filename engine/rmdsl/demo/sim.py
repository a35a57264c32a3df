"""A simulated TopstepX account: gateway + real-SDK broker on a virtual clock inside a session.

Shared by `rmdsl demo`, the end-to-end tests and the benchmarks. The gateway's
clock starts at a past session morning of the ruleset's calendar (so session
rules behave as in trading hours whatever the hour here) and runs at `speed`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rmdsl.broker.projectx import ProjectXBroker

if TYPE_CHECKING:
    from rmdsl.broker.projectx_fleet import ProjectXLogin
from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.contracts import SimClock
from rmdsl.engine.tradingday import Calendar, wall_to_utc
from rmdsl.lifecycle import Service
from rmdsl.rules.model import Ruleset

ACCOUNT = "PRAC-SIM-1"
USERNAME = "sim-user"
API_KEY = "sim-api-key-0123456789"
SESSION_MORNING = dt.time(9, 0)
# the virtual day ends before the wall clock: the adapter's REST trade search stops at "now"
MIN_AGE = dt.timedelta(hours=2)


def session_start(ruleset: Ruleset, now: dt.datetime | None = None) -> dt.datetime:
    """09:00 local of the latest session day that is over MIN_AGE before now, as UTC."""
    now = now or dt.datetime.now(dt.UTC)
    calendar = Calendar.of(ruleset)
    day = now.astimezone(ruleset.timezone).date()
    for back in range(1, 15):
        candidate = wall_to_utc(day - dt.timedelta(days=back), SESSION_MORNING, ruleset.timezone)
        if candidate <= now - MIN_AGE and calendar.session_open(candidate):
            return candidate
    return now - dt.timedelta(days=1)  # a ruleset without session days: any past instant


class SimAccount(Service):
    """`async with SimAccount(ruleset, speed=8) as sim:` — sim.gw, sim.clock, sim.broker()."""

    def __init__(
        self,
        ruleset: Ruleset,
        speed: float = 1.0,
        start: dt.datetime | None = None,
        **gateway: Any,
    ) -> None:
        self.ruleset = ruleset
        self.clock = SimClock(start or session_start(ruleset), speed)
        self.gw = SimGateway(clock=self.clock, **gateway)

    async def start(self) -> None:
        await self.gw.start()

    async def stop(self) -> None:
        await self.gw.stop()

    def now(self) -> dt.datetime:
        return self.clock.now()

    def env(self, requests_per_minute: int = 100_000) -> dict[str, str]:
        """What the SDK reads from the environment (its rate limit is only read there)."""
        env = self.gw.sdk_env(USERNAME, API_KEY)
        env["PROJECTX_REQUESTS_PER_MINUTE"] = str(requests_per_minute)
        return env

    def day_start(self, _wall_now: dt.datetime) -> dt.datetime:
        return Calendar.of(self.ruleset).last_reset(self.clock.now())

    def login(self, **options: Any) -> ProjectXLogin:
        """One login for every account of the gateway (accounts: login.broker(name))."""
        from rmdsl.broker.projectx_fleet import ProjectXLogin

        return ProjectXLogin(**self._endpoints(), **options)

    def _endpoints(self) -> dict[str, Any]:
        return {
            "api_key": API_KEY,
            "username": USERNAME,
            "api_url": self.gw.api_url,
            "user_hub_url": self.gw.user_hub_url,
            "market_hub_url": self.gw.market_hub_url,
            "day_start": self.day_start,
        }

    def broker(self, account: str = ACCOUNT, **options: Any) -> ProjectXBroker:
        """The real adapter, pointed at this gateway (set env() first for the rate limit)."""
        return ProjectXBroker(account, **self._endpoints(), **options)
