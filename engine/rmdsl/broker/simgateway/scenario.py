"""Scripted sessions for the simulated gateway: a recording or a step script -> timed actions.

(a) JSONL recordings, one `{"ts", "target", "data"}` per line, are pushed as is;
(b) step scripts (`[{"at": seconds, "quote"|"trader"|"fault"|"can_trade": ...}]`)
drive the market. Both play `speed` times faster than real time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmdsl.broker.simgateway.orders import GatewayRejection, SimOrder
from rmdsl.broker.simgateway.server import SimGateway
from rmdsl.errors import BrokerError

TARGETS = frozenset(
    {
        "GatewayUserTrade",
        "GatewayUserPosition",
        "GatewayUserOrder",
        "GatewayUserAccount",
        "GatewayQuote",
    }
)
_MARKET_TARGETS = frozenset({"GatewayQuote", "GatewayTrade", "GatewayDepth"})
STEP_KINDS = ("quote", "trader", "fault", "can_trade")


class ScenarioError(BrokerError):
    """A recording or script the player cannot understand (names the line or step)."""


@dataclass(frozen=True, slots=True)
class RecordedPush:
    ts: dt.datetime
    target: str
    data: Any

    @property
    def arguments(self) -> list[Any]:
        if self.target in _MARKET_TARGETS and isinstance(self.data, list):
            return list(self.data)
        return [self.data]


@dataclass(frozen=True, slots=True)
class Step:
    at: float  # seconds from the start of the script (scripted time)
    kind: str
    body: Any


def load_recording(lines: Iterable[str], name: str = "<recording>") -> list[RecordedPush]:
    out = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            ts = dt.datetime.fromisoformat(str(obj["ts"]).replace("Z", "+00:00"))
            target = str(obj["target"])
            data = obj["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ScenarioError(f"{name}:{lineno}: not a recording line: {exc}") from None
        if target not in TARGETS:
            raise ScenarioError(f"{name}:{lineno}: unknown target {target!r}")
        out.append(RecordedPush(ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC), target, data))
    return out


def load_recording_file(path: Path) -> list[RecordedPush]:
    with path.open(encoding="utf-8") as fh:
        return load_recording(fh, str(path))


def parse_script(steps: Sequence[Mapping[str, Any]]) -> list[Step]:
    out = []
    for index, raw in enumerate(steps):
        kinds = [k for k in STEP_KINDS if k in raw]
        at = raw.get("at")
        if len(kinds) != 1 or not isinstance(at, int | float) or at < 0:
            raise ScenarioError(
                f"step {index}: needs a number 'at' >= 0 and exactly one of {STEP_KINDS}"
            )
        out.append(Step(float(at), kinds[0], raw[kinds[0]]))
    return sorted(out, key=lambda s: s.at)


async def _sleep_until(start: float, offset: float, speed: float) -> None:
    delay = start + offset / speed - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def play_recording(gw: SimGateway, pushes: Sequence[RecordedPush], speed: float = 1.0) -> int:
    """Push each recorded payload at its (scaled) offset from the first; returns the count."""
    if not pushes:
        return 0
    first, start = pushes[0].ts, time.monotonic()
    for push in pushes:
        await _sleep_until(start, (push.ts - first).total_seconds(), speed)
        gw.publish_raw(push.target, push.arguments)
    await gw.flush()
    return len(pushes)


class ScriptPlayer:
    """Plays steps against a gateway; the gateway clock runs at the same speed."""

    def __init__(
        self, gw: SimGateway, speed: float = 1.0, start: dt.datetime | None = None
    ) -> None:
        if speed <= 0:
            raise ScenarioError(f"speed must be > 0, not {speed}")
        self.gw, self.speed, self.start = gw, speed, start
        self.placed: list[SimOrder] = []
        self.errors: list[str] = []

    async def play(self, steps: Sequence[Step]) -> None:
        self.gw.market.clock.reset(self.start, self.speed)
        start = time.monotonic()
        for step in steps:
            await _sleep_until(start, step.at, self.speed)
            await self.apply(step)
        await self.gw.flush()

    async def apply(self, step: Step) -> None:
        """One step; a gateway rejection of a trader action is recorded, not raised."""
        if (
            step.kind == "fault"
            and isinstance(step.body, Mapping)
            and step.body.get("drop_connections")
        ):
            await self.gw.drop_connections()
            return
        try:
            getattr(self, f"_do_{step.kind}")(step.body)
        except GatewayRejection as exc:
            self.errors.append(f"at {step.at}s: {exc.message}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(
                f"at {step.at}s: bad {step.kind} step {step.body!r}: {exc!r}"
            ) from None

    def _do_quote(self, body: Mapping[str, Any]) -> None:
        self.gw.set_quote(
            body["contract"], body.get("price"), bid=body.get("bid"), ask=body.get("ask")
        )

    def _do_can_trade(self, body: Any) -> None:
        if isinstance(body, Mapping):
            self.gw.set_can_trade(bool(body["value"]), body.get("account"))
        else:
            self.gw.set_can_trade(bool(body))

    def _do_trader(self, body: Mapping[str, Any]) -> None:
        account = body.get("account")
        if "place" in body:
            p = body["place"]
            order = self.gw.trader_place(
                p["contract"],
                p["side"],
                p.get("type", "market"),
                int(p.get("size", 1)),
                limit_price=p.get("limitPrice"),
                stop_price=p.get("stopPrice"),
                trail_price=p.get("trailPrice"),
                account=account,
            )
            self.placed.append(order)
        elif "cancel" in body:
            ref = body["cancel"]
            order_id = self.placed[-1].id if ref in ("last", None) else int(ref)
            self.gw.trader_cancel(order_id, account)
        elif "close" in body:
            c = body["close"]
            self.gw.trader_close(c["contract"], c.get("size"), account)
        else:
            raise KeyError("place, cancel or close")

    def _do_fault(self, body: Mapping[str, Any]) -> None:
        count = int(body.get("count", 1))
        if "reject_close" in body:
            self.gw.reject_close(count)
        elif "error" in body:
            e = body["error"] or {}
            self.gw.inject_error(
                body["endpoint"], int(e.get("code", 7)), e.get("message", "Injected failure"), count
            )
        elif "delay" in body:
            self.gw.inject_delay(body["endpoint"], float(body["delay"]), count)
        elif "status" in body:
            self.gw.inject_status(body["endpoint"], int(body["status"]), count)
        else:
            raise KeyError("drop_connections, reject_close, error, delay or status")


async def play_script(
    gw: SimGateway,
    steps: Sequence[Mapping[str, Any]],
    speed: float = 1.0,
    start: dt.datetime | None = None,
) -> ScriptPlayer:
    player = ScriptPlayer(gw, speed, start)
    await player.play(parse_script(steps))
    return player
