"""The real project-x-py 4.4.1 objects behind the ProjectX adapter: settings -> client and suite.

Imported only when a ProjectXBroker is built without an injected SDK, so the
~74 MB of the SDK is paid by the daemon and not by tests on the mock. The
suite is assembled from the SDK's lower-level pieces instead of
TradingSuite.create, which would load bars and per-instrument data managers
the whole-account risk daemon does not need.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from project_x_py import EventBus, OrderManager, PositionManager, ProjectX
from project_x_py.config import ConfigManager
from project_x_py.models import ProjectXConfig
from project_x_py.realtime import ProjectXRealtimeClient

from rmdsl.broker.projectx_settings import ProjectXSettings

# The SDK's OrderManager remembers each order it searched, cancelled or modified for an hour,
# up to 10,000 (its status answers a repeated cancel without a request). rmdsl's orders are
# the engine's, from the user hub; in a daemon of many accounts that hour of cancels was the
# memory that still grew after an hour's run (docs/performance.md, "The hour with spans").
# Five minutes cover any retry of a cancel (docs/broker.md, "The SDK's order memory").
SDK_ORDER_MEMORY_S, SDK_ORDER_MEMORY_MAX = 300, 2_000


async def bounded_order_manager(client: Any, events: Any) -> Any:
    """The SDK's OrderManager with its order memory bounded to SDK_ORDER_MEMORY_*."""
    orders = OrderManager(client, events)
    await orders.configure_memory_limits(order_ttl_seconds=SDK_ORDER_MEMORY_S)
    # the SDK makes its caches anew only when given a size, with the TTL it then holds
    await orders.configure_memory_limits(max_tracked_orders=SDK_ORDER_MEMORY_MAX)
    return orders


@dataclass(slots=True)
class SdkSuite:
    """TradingSuite-shaped bundle (same attribute names) for one account, across instruments."""

    client: Any
    realtime: Any
    orders: Any
    positions: Any
    events: Any


def sdk_config(settings: ProjectXSettings) -> ProjectXConfig:
    """PROJECTX_* environment (ConfigManager, validated) with explicit overrides on top."""
    config = ConfigManager().load_config()
    overrides = {
        name: value
        for name in ("api_url", "user_hub_url", "market_hub_url")
        if (value := getattr(settings, name)) is not None
    }
    if overrides:
        config = dataclasses.replace(config, **overrides)
        ConfigManager().validate_config(config)
    return config


class ProjectXSdk:
    """The default SDK factory: logs in over REST and builds the realtime client and managers."""

    async def login(self, settings: ProjectXSettings) -> Any:
        """An open, authenticated ProjectX client (the account is chosen by the adapter)."""
        client = ProjectX(
            username=settings.username, api_key=settings.api_key, config=sdk_config(settings)
        )
        await client.__aenter__()
        try:
            await client.authenticate()
        except BaseException:
            await client.__aexit__(None, None, None)
            raise
        return client

    async def open_suite(self, client: Any) -> SdkSuite:
        """Realtime client and managers for the client's selected account (not yet connected)."""
        realtime = ProjectXRealtimeClient(
            jwt_token=client.get_session_token(),
            account_id=str(client.get_account_info().id),
            config=client.config,
        )
        events = EventBus()
        return SdkSuite(
            client=client,
            realtime=realtime,
            orders=await bounded_order_manager(client, events),
            positions=PositionManager(client, events),
            events=events,
        )

    async def logout(self, client: Any) -> None:
        await client.__aexit__(None, None, None)
