"""ProjectXBroker on the mock SDK: snapshot over REST and each enforcement call -> the SDK call."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from tests.mocks.mock_sdk import ACCOUNT_ID, MockSDK

from rmdsl.broker.projectx import ProjectXBroker
from rmdsl.contract.broker import ContractInfo, OrderChange, OrderRequest
from rmdsl.contract.events import Event, OrderType, PositionType, Side
from rmdsl.errors import BrokerError

MNQ = "CON.F.US.MNQ.Z26"
ES = "CON.F.US.EP.Z26"
DAY_START = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)


async def _ignore(event: Event) -> None:
    return None


@pytest.fixture
def sdk() -> MockSDK:
    sdk = MockSDK()
    sdk.add_instrument(MNQ, 0.25, 0.5)
    sdk.add_instrument(ES, 0.25, 12.5)
    return sdk


async def _connected(sdk: MockSDK, **kw: Any) -> ProjectXBroker:
    broker = ProjectXBroker(
        "PRACTICE-1",
        api_key="key-0123456789",
        username="trader",
        day_start=lambda now: DAY_START,
        watch_interval_s=3600.0,
        sdk=sdk,
        **kw,
    )
    await broker.connect(_ignore)
    return broker


@pytest.fixture
async def broker(sdk: MockSDK) -> AsyncIterator[ProjectXBroker]:
    broker = await _connected(sdk)
    yield broker
    await broker.disconnect()


# -- snapshot --------------------------------------------------------------------


async def test_snapshot_sees_positions_orders_and_a_stop_placed_from_the_ui(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    sdk.add_position(MNQ, 2, 21000.0)
    sdk.add_position(ES, 1, 6000.0, short=True)
    ui_stop = sdk.add_order(MNQ, type=4, side=1, size=2, stopPrice=20950.0, id=4242)
    sdk.add_order(ES, type=1, side=0, size=1, limitPrice=5990.0, status=2)  # filled: not open
    snap = await broker.snapshot()
    assert snap.account.id == ACCOUNT_ID and snap.account.name == "PRACTICE-1"
    assert snap.account.balance == Decimal("50000.0")
    assert [(p.contract_id, p.type, p.size) for p in snap.positions] == [
        (MNQ, PositionType.LONG, 2),
        (ES, PositionType.SHORT, 1),
    ]
    [stop] = snap.open_orders
    assert stop.id == ui_stop.id and stop.type is OrderType.STOP and stop.side is Side.SELL
    assert stop.stop_price == Decimal("20950.0")
    assert set(snap.contracts) == {
        ContractInfo(MNQ, "MNQ", Decimal("0.25"), Decimal("0.5")),
        ContractInfo(ES, "ES", Decimal("0.25"), Decimal("12.5")),
    }


async def test_snapshot_trades_are_the_trading_days_oldest_first(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    sdk.add_trade(MNQ, price=21000.0, side=1, size=1, creationTimestamp="2026-11-23T20:00:00Z")
    late = sdk.add_trade(
        MNQ, price=21001.0, side=0, size=1, creationTimestamp="2026-11-24T15:00:00Z"
    )
    early = sdk.add_trade(MNQ, price=21002.0, side=1, size=1, profitAndLoss=-12.5,
                          creationTimestamp="2026-11-24T01:00:00Z")  # fmt: skip
    snap = await broker.snapshot()
    assert [t.id for t in snap.trades_today] == [early.id, late.id]
    assert snap.trades_today[0].pnl == Decimal("-12.5")
    kwargs = sdk.suite.client.search_trades.await_args.kwargs
    assert kwargs["start_date"] == DAY_START and kwargs["limit"] >= 10_000


async def test_the_daemons_calendar_sets_the_trade_search_unless_one_was_given(
    sdk: MockSDK,
) -> None:
    ruleset_day = DAY_START - dt.timedelta(hours=3)
    given = await _connected(sdk)  # day_start=DAY_START given: it wins
    given.follow_calendar(lambda now: ruleset_day)
    await given.snapshot()
    assert sdk.suite.client.search_trades.await_args.kwargs["start_date"] == DAY_START
    await given.disconnect()
    broker = ProjectXBroker(
        "PRACTICE-1", api_key="key-0123456789", username="trader", sdk=sdk,
        watch_interval_s=3600.0,
    )  # fmt: skip
    broker.follow_calendar(lambda now: ruleset_day)
    await broker.connect(_ignore)
    try:
        await broker.snapshot()
        assert sdk.suite.client.search_trades.await_args.kwargs["start_date"] == ruleset_day
    finally:
        await broker.disconnect()


async def test_snapshot_subscribes_quotes_for_exposed_contracts(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    sdk.add_position(MNQ, 1, 21000.0)
    sdk.add_order(ES, type=4, side=1, size=1, stopPrice=5900.0)
    await broker.snapshot()
    await asyncio.sleep(0)
    market = sdk.realtime.market_connection
    assert market is not None
    sent = sorted(call.args[1][0] for call in market.send.await_args_list)
    assert sent == [ES, MNQ]


async def test_snapshot_without_contract_info_still_reconciles(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    sdk.add_position("CON.F.US.GCE.Z26", 1, 2400.0)
    snap = await broker.snapshot()
    assert [p.symbol for p in snap.positions] == ["GCE"] and snap.contracts == ()


async def test_snapshot_failure_is_a_broker_error(broker: ProjectXBroker, sdk: MockSDK) -> None:
    sdk.suite.orders.search_open_orders.side_effect = RuntimeError("Order search failed")
    with pytest.raises(BrokerError, match="open orders: Order search failed"):
        await broker.snapshot()


async def test_contract_info_is_cached(broker: ProjectXBroker, sdk: MockSDK) -> None:
    first = await broker.contract_info(MNQ)
    assert await broker.contract_info(MNQ) is first
    sdk.suite.client.get_instrument.assert_awaited_once_with(MNQ)


# -- enforcement -----------------------------------------------------------------


async def test_close_position_posts_close_contract_without_the_sdk_sleep(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    await broker.close_position(MNQ)
    sdk.suite.client._make_request.assert_awaited_once_with(
        "POST", "/Position/closeContract", data={"accountId": ACCOUNT_ID, "contractId": MNQ}
    )
    sdk.suite.positions.close_position_direct.assert_not_awaited()  # it sleeps 0.1 s after


async def test_partial_close_posts_partial_close_contract_with_the_size(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    await broker.partial_close(MNQ, 2)
    sdk.suite.client._make_request.assert_awaited_once_with(
        "POST",
        "/Position/partialCloseContract",
        data={"accountId": ACCOUNT_ID, "contractId": MNQ, "size": 2},
    )
    sdk.suite.positions.partially_close_position.assert_not_awaited()
    with pytest.raises(BrokerError, match="size must be positive"):
        await broker.partial_close(MNQ, 0)


async def test_cancel_order_calls_cancel_order(broker: ProjectXBroker, sdk: MockSDK) -> None:
    await broker.cancel_order(55)  # the account named: one login may hold several
    sdk.suite.orders.cancel_order.assert_awaited_once_with(55, account_id=ACCOUNT_ID)


async def test_cancel_of_an_already_filled_order_is_not_an_error(
    broker: ProjectXBroker, sdk: MockSDK, caplog: pytest.LogCaptureFixture
) -> None:
    sdk.suite.orders.cancel_order.return_value = False
    with caplog.at_level("INFO", logger="rmdsl.broker.projectx"):
        await broker.cancel_order(56)
    assert "nothing to cancel" in caplog.text


async def test_place_order_passes_every_field_and_returns_the_id(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    sdk.suite.orders.place_order.side_effect = None
    sdk.suite.orders.place_order.return_value.orderId = 777
    request = OrderRequest(MNQ, OrderType.STOP, Side.SELL, 2, stop_price=Decimal("20950.25"),
                           custom_tag="rmdsl:attach_stop")  # fmt: skip
    assert await broker.place_order(request) == 777
    sdk.suite.orders.place_order.assert_awaited_once_with(
        contract_id=MNQ,
        order_type=4,
        side=1,
        size=2,
        limit_price=None,
        stop_price=20950.25,
        trail_price=None,
        custom_tag="rmdsl:attach_stop",
        account_id=ACCOUNT_ID,
    )


async def test_place_order_without_an_id_is_an_error(broker: ProjectXBroker, sdk: MockSDK) -> None:
    sdk.suite.orders.place_order.side_effect = None
    sdk.suite.orders.place_order.return_value.orderId = 0
    with pytest.raises(BrokerError, match="no order id"):
        await broker.place_order(OrderRequest(MNQ, OrderType.MARKET, Side.BUY, 1))


async def test_modify_order_calls_modify_order(broker: ProjectXBroker, sdk: MockSDK) -> None:
    await broker.modify_order(88, OrderChange(stop_price=Decimal("20975.5")))
    sdk.suite.orders.modify_order.assert_awaited_once_with(
        88, limit_price=None, stop_price=20975.5, size=None
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"success": False, "errorCode": 2, "errorMessage": "No open position"},
            "No open position",
        ),
        ({"success": False, "error": "Operation failed"}, "Operation failed"),
        (None, "unexpected answer None"),
    ],
)
async def test_success_false_is_a_broker_error_with_the_message(
    broker: ProjectXBroker, sdk: MockSDK, answer: object, message: str
) -> None:
    sdk.suite.client._make_request.return_value = answer
    with pytest.raises(BrokerError, match=f"close position {MNQ}: {message}"):
        await broker.close_position(MNQ)
    with pytest.raises(BrokerError, match=f"partial close {MNQ} by 1: {message}"):
        await broker.partial_close(MNQ, 1)


async def test_error_code_is_named_in_the_broker_error(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    answer = {"success": False, "errorCode": 2, "errorMessage": "No open position"}
    sdk.suite.client._make_request.return_value = answer
    with pytest.raises(BrokerError, match=r"No open position \(errorCode 2\)"):
        await broker.close_position(MNQ)


async def test_a_raising_close_request_is_a_broker_error_with_the_sdk_message(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    # what _make_request raises for a 5xx or a dropped connection on a mutating endpoint
    sdk.suite.client._make_request.side_effect = RuntimeError(
        "Order request failed after a transport error; the broker may have accepted the order"
    )
    with pytest.raises(BrokerError, match=f"close position {MNQ}: Order request failed"):
        await broker.close_position(MNQ)


async def test_sdk_exception_is_a_broker_error_with_the_message(
    broker: ProjectXBroker, sdk: MockSDK
) -> None:
    sdk.suite.orders.place_order.side_effect = RuntimeError("Insufficient margin")
    with pytest.raises(BrokerError, match=r"place market buy 1 .*: Insufficient margin") as info:
        await broker.place_order(OrderRequest(MNQ, OrderType.MARKET, Side.BUY, 1))
    assert isinstance(info.value.__cause__, RuntimeError)
    sdk.suite.orders.modify_order.side_effect = RuntimeError("Order not found")
    with pytest.raises(BrokerError, match="modify order 9: Order not found"):
        await broker.modify_order(9, OrderChange(size=1))


async def test_a_hanging_sdk_call_times_out_as_broker_error(sdk: MockSDK) -> None:
    never = asyncio.Event()

    async def hang(*args: object, **kwargs: object) -> dict[str, object]:
        await never.wait()
        return {"success": True}

    broker = await _connected(sdk, call_timeout_s=0.01)
    try:
        sdk.suite.client._make_request.side_effect = hang
        with pytest.raises(BrokerError, match=r"close position .*: no answer within 0\.01 s"):
            await broker.close_position(MNQ)
    finally:
        await broker.disconnect()


async def test_sdk_error_raised_on_cancellation_still_reports_the_timeout(sdk: MockSDK) -> None:
    async def uncertain(*args: object, **kwargs: object) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:  # what the SDK does for mutating requests
            raise RuntimeError("Order request was cancelled after it may be submitted") from exc

    broker = await _connected(sdk, call_timeout_s=0.01)
    try:
        sdk.suite.orders.cancel_order.side_effect = uncertain
        with pytest.raises(BrokerError, match=r"no answer within 0\.01 s \(Order request was"):
            await broker.cancel_order(3)
    finally:
        await broker.disconnect()
