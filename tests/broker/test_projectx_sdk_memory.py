"""The SDK's order memory is bounded in time and size (rmdsl.broker.projectx_sdk): in a
daemon of many accounts, an hour of cancelled orders was what still grew."""

from __future__ import annotations

from types import SimpleNamespace

from project_x_py import EventBus

from rmdsl.broker.projectx_sdk import (
    SDK_ORDER_MEMORY_MAX,
    SDK_ORDER_MEMORY_S,
    bounded_order_manager,
)


async def test_the_sdks_order_caches_keep_minutes_not_an_hour() -> None:
    orders = await bounded_order_manager(SimpleNamespace(), EventBus())
    for cache in (orders.tracked_orders, orders.order_status_cache):
        assert cache.ttl == SDK_ORDER_MEMORY_S < 3600  # the SDK's own: an hour
        assert cache.maxsize == SDK_ORDER_MEMORY_MAX < 10_000
