"""Alerts end to end: a daemon on the simulated gateway breaches, apprise's `json://` delivers
to a webhook on 127.0.0.1 (an aiohttp server in this test), failing and hanging included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from e2ekit import TapStore, wait_until

from rmdsl.alerting import AppriseNotifier, FanoutNotifier
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset

pytestmark = pytest.mark.e2e

RULES = """\
rmdsl: 1
name: alerts
timezone: America/Chicago
reset: "17:00"
params:
  max_mnq: {value: 2, stricter: lower}
rules:
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
    message: "too many MNQ: {contracts(symbol)} contracts, the limit is {params.max_mnq}"
"""


@dataclass
class Receiver:
    """A webhook: records each JSON body; fails the first `failures` requests of an
    "enforced" alert with a 500 (`hits` counts those); holds every request while `hold`
    is clear."""

    url: str = ""
    failures: int = 0
    hits: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0  # requests held right now

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "enforced" in str(body["title"]):  # not a metric alert a loaded machine may add
            self.hits += 1
            if self.hits <= self.failures:
                return web.Response(status=500)
        self.waiting += 1
        try:
            await self.hold.wait()
        finally:
            self.waiting -= 1
        self.received.append(body)
        return web.Response(status=200)

    def bodies(self, title: str) -> list[str]:
        return [str(r["message"]) for r in self.received if title in str(r["title"])]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    rec.hold.set()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.url = f"json://127.0.0.1:{port}/hook"
    yield rec
    rec.hold.set()  # a held request ends before the server does
    await runner.cleanup()


Run = Callable[[Receiver], Awaitable[tuple[Daemon, SimAccount, AppriseNotifier]]]


@pytest.fixture
async def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Run]:
    """A daemon on the simulated gateway whose alerts go to the log list and to the webhook."""
    started: list[tuple[Daemon, SimAccount, AppriseNotifier]] = []
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES, encoding="utf-8")

    async def start(rec: Receiver) -> tuple[Daemon, SimAccount, AppriseNotifier]:
        sim = SimAccount(load_ruleset(rules))
        await sim.start()
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        phone = AppriseNotifier([rec.url], retries=3, pause_s=0.05, timeout_s=10)
        notifier = FanoutNotifier(CollectingNotifier(), phone)
        daemon = Daemon(
            rules, sim.broker(), TapStore(tmp_path / "s.db"), notifier, clock=sim.now, tick_s=0.05
        )
        started.append((daemon, sim, phone))
        await daemon.start()
        return daemon, sim, phone

    yield start
    for daemon, sim, phone in started:
        await daemon.stop()
        await phone.aclose(0.5)
        await sim.stop()


def reduces(daemon: Daemon) -> list[EnforcementRecord]:
    recorded: list[EnforcementRecord] = daemon.store.recorded  # type: ignore[attr-defined]
    return [r for r in recorded if r.rule_name == "mnq_contracts" and r.outcome == "ok"]


async def test_a_breach_reaches_the_webhook_with_the_message_values_and_zone(
    receiver: Receiver, run: Run
) -> None:
    daemon, sim, _ = await run(receiver)
    sim.gw.trader_place("MNQ", "buy", "market", 3)
    await wait_until(lambda: bool(receiver.bodies("enforced")), 10, "the alert at the webhook")
    await wait_until(lambda: bool(reduces(daemon)), 10, "the record (written after the alert)")
    (body,) = receiver.bodies("enforced")
    (record,) = reduces(daemon)
    local = record.timestamp.astimezone(ZoneInfo("America/Chicago"))
    assert "too many MNQ: 3 contracts, the limit is 2" in body  # the rule's own message
    assert "(params.max_mnq = 2, symbol = MNQ)" in body  # the values that fired it
    assert f"at {local:%H:%M:%S %Z}" in body and local.tzname() in ("CST", "CDT")
    assert "rule mnq_contracts: reduce_position(to=2)" in body


async def test_a_receiver_failing_twice_gets_the_alert_on_the_third_try(
    receiver: Receiver, run: Run
) -> None:
    receiver.failures = 2
    _, sim, phone = await run(receiver)
    sim.gw.trader_place("MNQ", "buy", "market", 3)
    await wait_until(lambda: bool(receiver.bodies("enforced")), 10, "the delivery")
    assert receiver.hits == 3 and phone.failed == 0
    assert "too many MNQ" in receiver.bodies("enforced")[0]


async def test_a_hanging_receiver_does_not_delay_the_next_close(
    receiver: Receiver, run: Run
) -> None:
    receiver.hold.clear()  # the webhook answers nothing until released
    daemon, sim, _ = await run(receiver)
    sim.gw.trader_place("MNQ", "buy", "market", 3)
    await wait_until(lambda: receiver.waiting == 1, 10, "the first alert hanging at the webhook")
    sim.gw.trader_place("MNQ", "buy", "market", 2)  # 4 > 2: the next reduce, while it hangs
    await wait_until(lambda: sim.gw.position_size("MNQ") == 2, 10, "the second reduce")
    await wait_until(lambda: len(reduces(daemon)) == 2, 10, "both reduces recorded")
    assert receiver.waiting == 1 and not receiver.received  # still hanging: nothing delivered
    receiver.hold.set()
    await wait_until(lambda: len(receiver.bodies("enforced")) == 2, 10, "both, once released")
    bodies = receiver.bodies("enforced")
    assert ["3 contracts" in bodies[0], "4 contracts" in bodies[1]] == [True, True]
