"""Scenario player: JSONL recordings pushed as is, step scripts played fast on a virtual clock."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from rmdsl.broker.simgateway import SimGateway
from rmdsl.broker.simgateway.scenario import (
    ScenarioError,
    load_recording,
    load_recording_file,
    parse_script,
    play_recording,
    play_script,
)

TRADE = {"action": 1, "data": {"id": 1, "accountId": 7001, "contractId": "CON.F.US.MNQ.Z25"}}


def line(ts: str, target: str, data: object) -> str:
    return json.dumps({"ts": ts, "target": target, "data": data})


async def test_recording_is_pushed_as_is_at_scaled_offsets(gw: SimGateway, tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    path.write_text(
        "\n".join(
            [
                line("2025-01-02T15:00:00Z", "GatewayUserTrade", TRADE),
                "",
                line(
                    "2025-01-02T15:00:10Z", "GatewayQuote", ["CON.F.US.MNQ.Z25", {"lastPrice": 1.0}]
                ),
            ]
        )
    )
    pushes = load_recording_file(path)
    started = time.monotonic()
    assert await play_recording(gw, pushes, speed=50) == 2
    assert 0.19 <= time.monotonic() - started < 2
    assert gw.pushes[0].arguments == (TRADE,)
    assert gw.pushes[1].arguments == ("CON.F.US.MNQ.Z25", {"lastPrice": 1.0})


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        line("2025-01-02T15:00:00Z", "GatewayNope", {}),
        json.dumps({"ts": "x", "target": "GatewayQuote"}),
    ],
)
def test_bad_recording_lines_name_the_line(bad: str) -> None:
    with pytest.raises(ScenarioError, match=r"rec:2:"):
        load_recording(["", bad], "rec")


async def test_ten_minute_script_plays_in_a_fraction_of_a_second(gw: SimGateway) -> None:
    start = dt.datetime(2025, 1, 2, 14, 30, tzinfo=dt.UTC)
    steps = [
        {"at": 0, "quote": {"contract": "MNQ", "price": 21000}},
        {
            "at": 60,
            "trader": {"place": {"contract": "MNQ", "side": "buy", "type": "market", "size": 2}},
        },
        {
            "at": 120,
            "trader": {
                "place": {"contract": "MNQ", "side": "sell", "type": "stop", "stopPrice": 20990}
            },
        },
        {"at": 300, "quote": {"contract": "MNQ", "price": 20985}},
        {"at": 400, "fault": {"endpoint": "/Order/place", "error": {"code": 2, "message": "x"}}},
        {"at": 500, "can_trade": False},
        {"at": 550, "trader": {"place": {"contract": "MNQ", "side": "buy"}}},
        {"at": 600, "trader": {"close": {"contract": "MNQ"}}},
    ]
    started = time.monotonic()
    player = await play_script(gw, steps, speed=2000, start=start)
    assert time.monotonic() - started < 1.5
    trades = [p.arguments[0]["data"] for p in gw.pushes if p.target == "GatewayUserTrade"]
    assert [(t["side"], t["size"], t["price"]) for t in trades] == [
        (0, 2, 21000.0),
        (1, 1, 20985.0),
        (1, 1, 20985.0),
    ]
    stamp = dt.datetime.fromisoformat(trades[1]["creationTimestamp"])
    assert start + dt.timedelta(seconds=299) <= stamp <= start + dt.timedelta(seconds=400)
    assert gw.faults.pending("/Order/place") == 1
    assert player.errors == ["at 550.0s: Account is not allowed to trade"]
    assert gw.position_size("MNQ") == 0


@pytest.mark.parametrize(
    "steps",
    [
        [{"quote": {"contract": "MNQ", "price": 1}}],
        [{"at": -1, "quote": {}}],
        [{"at": 1, "quote": {}, "can_trade": True}],
    ],
)
def test_invalid_steps(steps: list[dict[str, object]]) -> None:
    with pytest.raises(ScenarioError):
        parse_script(steps)


async def test_bad_step_body_is_a_scenario_error(gw: SimGateway) -> None:
    with pytest.raises(ScenarioError, match="bad trader step"):
        await play_script(gw, [{"at": 0, "trader": {"explode": {}}}], speed=100)


async def test_drop_connections_step(gw: SimGateway) -> None:
    player = await play_script(gw, [{"at": 0, "fault": {"drop_connections": True}}], speed=100)
    assert player.errors == []
