"""Rate limits through the real SDK: with snapshots hammering the gateway's budget, every
enforcement call still goes through; a 429 the gateway does send surfaces as code 429."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from tests.broker.test_projectx_e2e import ACCOUNT, WAIT_S, Inbox

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.broker.projectx_rate import RATE_LIMITED, Budget
from rmdsl.broker.simgateway import SimGateway
from rmdsl.errors import BrokerError

pytestmark = pytest.mark.e2e
LIMIT, WINDOW_S, RESERVE = 40, 3.0, 15


@pytest.fixture
async def gateway(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimGateway]:
    async with SimGateway(accounts=((ACCOUNT, Decimal(50_000)),)) as gw:
        for name, value in gw.sdk_env().items():
            monkeypatch.setenv(name, value)
        gw.set_quote("MNQ", "21000.00")
        yield gw


async def connect(gw: SimGateway, **options: object) -> ProjectXBroker:
    broker = ProjectXBroker(ACCOUNT, **options)  # type: ignore[arg-type]
    await broker.connect(Inbox())
    await gw.wait_for_subscription("user", "SubscribeTrades", timeout=WAIT_S)
    return broker


async def hammer(broker: ProjectXBroker) -> None:
    """A reconcile loop gone wild: snapshots back to back; their failures are not ours."""
    while True:
        with contextlib.suppress(BrokerError):
            await broker.snapshot()


async def test_enforcement_goes_through_while_snapshots_use_up_the_budget(
    gateway: SimGateway,
) -> None:
    gw = gateway
    gw.limits.set(LIMIT, WINDOW_S)
    broker = await connect(gw, budget=Budget(LIMIT, WINDOW_S, RESERVE))
    try:
        orders = [
            gw.trader_place("MNQ", "buy", "limit", 1, limit_price="20000", account=ACCOUNT).id
            for _ in range(8)
        ]
        gw.trader_place("MNQ", "buy", "market", 2, account=ACCOUNT)
        loops = [asyncio.create_task(hammer(broker)) for _ in range(3)]
        async with asyncio.timeout(2 * WINDOW_S):
            while broker.gate.waited == 0:  # the snapshots are held at the reserve
                await asyncio.sleep(0.01)
        await asyncio.gather(
            *(broker.cancel_order(order_id) for order_id in orders),
            broker.partial_close(gw.market.resolve_contract("MNQ").contract_id, 1),
        )
        await broker.close_position(gw.market.resolve_contract("MNQ").contract_id)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        assert gw.limits.refused == 0 and broker.gate.refused == 0
        assert gw.position_size("MNQ", account=ACCOUNT) == 0
        assert not gw.market.orders(gw._account(ACCOUNT), open_only=True)
    finally:
        await broker.disconnect()


@pytest.mark.parametrize(("count_refused", "retry_after_s"), [(False, None), (True, 1)])
async def test_a_429_is_a_retryable_code_and_pauses_the_other_calls(
    gateway: SimGateway, count_refused: bool, retry_after_s: int | None
) -> None:
    """Under each undocumented 429 behaviour (refusals counted or not, Retry-After or none)."""
    gw = gateway
    gw.limits.count_refused, gw.limits.retry_after_s = count_refused, retry_after_s
    broker = await connect(gw, call_timeout_s=1.0)
    try:
        gw.limits.set(1, 60.0)  # another client of the same user spent the budget
        gw.trader_place("MNQ", "buy", "market", 1, account=ACCOUNT)
        with pytest.raises(BrokerError) as raised:
            await broker.close_position(gw.market.resolve_contract("MNQ").contract_id)
        assert raised.value.code == RATE_LIMITED  # the enforcer retries it like any failure
        assert broker.gate.refused >= 1 and broker.gate._delay() > 0
        with pytest.raises(BrokerError):  # a read backs off: it fails within its timeout
            await broker.snapshot()
        assert gw.position_size("MNQ", account=ACCOUNT) == 1
        gw.limits.enabled = False
        await broker.close_position(gw.market.resolve_contract("MNQ").contract_id)
        assert gw.position_size("MNQ", account=ACCOUNT) == 0
    finally:
        await broker.disconnect()
