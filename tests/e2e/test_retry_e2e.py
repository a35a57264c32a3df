"""Enforcement retried until the gateway shows it done, through the real SDK and injected faults.

Each case makes the first attempt fail (an error-code answer, an HTTP 500, or no answer
before the enforcer's timeout) and checks that the account still ends flat, reduced or
cancelled within the retry bound, with every attempt in enforcement_history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from e2ekit import RULES, Live, TapStore, short_grace_ruleset, stored_enforcements, wait_until
from e2ekit import working_orders as working

from rmdsl.broker.simgateway import SimGateway
from rmdsl.daemon import Daemon
from rmdsl.demo.sim import SimAccount
from rmdsl.enforce.goals import RetryPolicy
from rmdsl.engine.persistence import EnforcementRecord, Outcome
from rmdsl.notify import CollectingNotifier
from rmdsl.pipeline import load_ruleset

pytestmark = pytest.mark.e2e

TIMEOUT_S = 0.4  # the enforcer gives up on a call after this; the DelayFault holds longer
DELAY_S = 1.0
RETRY_BOUND_S = 4.0  # first failure -> target state, with room for a loaded machine
FAULTS = ("error-code", "http-500", "timeout")
CLOSE, PARTIAL, CANCEL = (
    "/Position/closeContract",
    "/Position/partialCloseContract",
    "/Order/cancel",
)

Start = Callable[..., Awaitable[Live]]


def inject(gw: SimGateway, path: str, fault: str) -> None:
    if fault == "error-code":
        gw.inject_error(path, code=7, message="Injected failure")
    elif fault == "http-500":
        gw.inject_status(path, 500)
    else:
        gw.inject_delay(path, DELAY_S)


@pytest.fixture
async def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """A daemon with a short call timeout (the shared fixture keeps the 5 s default)."""
    stack: list[tuple[SimAccount, Daemon]] = []

    async def go(ruleset_path: Path, tick_s: float = 0.25) -> Live:
        sim = SimAccount(load_ruleset(ruleset_path))
        await sim.start()
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        store_path = tmp_path / f"retry{len(stack)}.db"
        notifier = CollectingNotifier()
        daemon = Daemon(
            ruleset_path,
            sim.broker(),
            TapStore(store_path),
            notifier,
            clock=sim.now,
            reload=False,
            timeout_s=TIMEOUT_S,
            tick_s=tick_s,
        )
        stack.append((sim, daemon))
        await daemon.start()
        return Live(sim, daemon, store_path, notifier)

    yield go
    for sim, daemon in reversed(stack):
        await daemon.stop()
        await sim.stop()


def child(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "retry.yaml"
    path.write_text(f"rmdsl: 1\nname: retry\nextends: {RULES}\nrules:\n{rules}", encoding="utf-8")
    return path


async def history_of(live: Live, rule: str) -> list[EnforcementRecord]:
    """The rule's records as the state database holds them, oldest first."""
    rows = await stored_enforcements(live)
    return [r for r in reversed(rows) if r.rule_name == rule]


def sent(records: list[EnforcementRecord]) -> list[EnforcementRecord]:
    return [r for r in records if r.action_sent_ts is not None]


def assert_retried(records: list[EnforcementRecord], requests: int) -> None:
    """The first attempt failed, a later one went through, each attempt is one record (and
    one request to the gateway), numbered from 2 on."""
    attempts = sent(records)
    assert attempts[0].outcome == Outcome.FAILED
    assert attempts[-1].outcome == Outcome.OK
    assert [r.values.get("attempt") for r in attempts[1:]] == [
        str(n) for n in range(2, len(attempts) + 1)
    ]
    assert len(attempts) == requests


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failed_close_ends_flat(start: Start, tmp_path: Path, fault: str) -> None:
    live = await start(short_grace_ruleset(tmp_path, "1s"))
    gw = live.gw
    inject(gw, CLOSE, fault)
    gw.trader_place("MNQ", "buy", "market", 1)  # no stop: closed when the 1 s grace ends
    await live.wait_for_record("no_stop_loss_grace", outcome=Outcome.FAILED, timeout=4)
    await wait_until(lambda: gw.position_size("MNQ") == 0, RETRY_BOUND_S, "MNQ flat")
    await live.wait_for_record("no_stop_loss_grace", outcome=Outcome.OK)  # its call returned
    records = await history_of(live, "no_stop_loss_grace")
    assert_retried(records, len(gw.requests.calls(CLOSE)))


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failed_partial_close_ends_flat_by_a_close(start: Start, fault: str) -> None:
    live = await start(RULES)
    gw = live.gw
    inject(gw, PARTIAL, fault)
    gw.trader_place("MNQ", "buy", "market", 3)  # 3 > max_mnq 2: reduce to 2
    await live.wait_for_record("mnq_contracts", outcome=Outcome.FAILED, timeout=4)
    # the escalation: a failed partial close becomes a close
    await wait_until(lambda: gw.position_size("MNQ") == 0, RETRY_BOUND_S, "MNQ closed")
    await live.wait_for_record("mnq_contracts", outcome=Outcome.OK)
    records = sent(await history_of(live, "mnq_contracts"))
    assert records[0].action == "reduce_position(to=2)"
    assert records[-1].action == "close_position (escalated from reduce_position(to=2))"
    assert_retried(records, len(gw.requests.calls(PARTIAL)) + len(gw.requests.calls(CLOSE)))


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failed_cancel_ends_cancelled(start: Start, tmp_path: Path, fault: str) -> None:
    rules = (
        "  no_big_orders:\n    scope: order\n    when: order.size > 5\n    do: [cancel_orders]\n"
    )
    live = await start(child(tmp_path, rules))
    gw = live.gw
    inject(gw, CANCEL, fault)
    gw.trader_place("MNQ", "buy", "limit", 6, limit_price=20000)  # rests far below the market
    await live.wait_for_record("no_big_orders", outcome=Outcome.FAILED, timeout=4)
    await wait_until(lambda: not working(gw, "MNQ"), RETRY_BOUND_S, "the order cancelled")
    await live.wait_for_record("no_big_orders", outcome=Outcome.OK)
    records = await history_of(live, "no_big_orders")
    assert_retried(records, len(gw.requests.calls(CANCEL)))


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failed_flatten_leg_ends_flat(start: Start, tmp_path: Path, fault: str) -> None:
    rules = "  two_symbols:\n    when: positions.count >= 2\n    do: [flatten]\n"
    live = await start(child(tmp_path, rules))
    gw = live.gw
    gw.trader_place("MNQ", "buy", "market", 1)
    gw.trader_place("MNQ", "sell", "stop", 1, stop_price=20900)  # protected, and worked on
    await wait_until(lambda: bool(working(gw, "MNQ")), what="the MNQ stop")
    inject(gw, CLOSE, fault)  # the first close of the flatten fails
    gw.trader_place("ES", "buy", "market", 1)
    await live.wait_for_record("two_symbols", outcome=Outcome.FAILED, timeout=4)
    await wait_until(
        lambda: gw.position_size("MNQ") == 0 and gw.position_size("ES") == 0,
        RETRY_BOUND_S,
        "both flat",
    )
    await wait_until(lambda: not working(gw, "MNQ"), 2, "the stop cancelled")

    def closes() -> list[EnforcementRecord]:
        mine = [r for r in live.history() if r.rule_name == "two_symbols"]
        return [r for r in sent(mine) if not r.target.startswith("order:")]

    # every close sent is one record (the last is written once its call has returned)
    await wait_until(lambda: len(closes()) == len(gw.requests.calls(CLOSE)), 2, "the records")
    stored = sent(await history_of(live, "two_symbols"))
    assert [r for r in stored if not r.target.startswith("order:")] == closes()
    assert [r.outcome for r in closes()].count(Outcome.FAILED) == 1
    assert {r.target for r in closes() if r.outcome == Outcome.OK} == {
        gw.market.resolve_contract(s).contract_id for s in ("MNQ", "ES")
    }


async def test_position_not_found_is_read_as_already_flat(start: Start, tmp_path: Path) -> None:
    """errorCode 2 from closeContract reaches the enforcer as a code, not only as text."""
    live = await start(short_grace_ruleset(tmp_path, "1s"))
    engine = live.daemon.engine
    assert engine is not None
    engine.enforcer.goals.policy = RetryPolicy(slow_s=0.3)  # the state is checked again soon
    gw = live.gw
    gw.inject_error(CLOSE, code=2, message="Position not found")
    gw.trader_place("MNQ", "buy", "market", 1)
    first = await live.wait_for_record("no_stop_loss_grace", timeout=4)
    assert first.outcome == Outcome.SKIPPED and "already flat" in (first.error or "")
    assert "enforcement failed" not in live.notifier.titles()
    # the gateway still holds it (the answer was injected): the state says so, so it is sent
    await wait_until(lambda: gw.position_size("MNQ") == 0, RETRY_BOUND_S, "MNQ flat")


async def test_the_daemon_wakes_for_a_due_retry_not_only_on_ticks(
    start: Start, tmp_path: Path
) -> None:
    """Clock ticks every 60 s: the grace deadline and the retry after the failed close still
    come on time, because the daemon sends a clock event at Engine.next_wakeup()."""
    live = await start(short_grace_ruleset(tmp_path, "1s"), tick_s=60.0)
    gw = live.gw
    inject(gw, CLOSE, "error-code")
    gw.trader_place("MNQ", "buy", "market", 1)
    await live.wait_for_record("no_stop_loss_grace", outcome=Outcome.FAILED, timeout=4)
    await wait_until(lambda: gw.position_size("MNQ") == 0, RETRY_BOUND_S, "MNQ flat")
    await live.wait_for_record("no_stop_loss_grace", outcome=Outcome.OK)
    assert len(gw.requests.calls(CLOSE)) == 2


@pytest.mark.parametrize("path", [CLOSE, PARTIAL])
async def test_a_close_answered_success_that_never_happens_is_sent_again(
    start: Start, tmp_path: Path, path: str
) -> None:
    """closeContract answers {success, errorCode, errorMessage} and no order id: rmdsl takes
    the close as done only when the position and trade events show it, so an acknowledged
    close that never happens is sent again (docs/broker.md, "Closing")."""
    if path == CLOSE:
        live = await start(short_grace_ruleset(tmp_path, "1s"))
        rule, size = "no_stop_loss_grace", 1
    else:
        live = await start(RULES)
        rule, size = "mnq_contracts", 3  # > max_mnq 2: reduce to 2
    gw = live.gw
    gw.ignore_close()  # success, nothing done
    gw.trader_place("MNQ", "buy", "market", size)
    await wait_until(lambda: len(gw.requests.calls(path)) == 2, RETRY_BOUND_S, "a second close")
    await wait_until(lambda: gw.position_size("MNQ") == size - 1, RETRY_BOUND_S, "closed")
    await live.wait_for_record(rule, outcome=Outcome.OK)
    await wait_until(lambda: len(sent(live.history())) >= 2, 2, "both records")
    attempts = [r for r in sent(live.history()) if r.rule_name == rule]
    assert [r.outcome for r in attempts] == [Outcome.OK, Outcome.OK]
    assert attempts[1].values.get("attempt") == "2"


async def test_a_close_into_a_frozen_gateway_with_dropped_sockets_ends_flat(
    start: Start, tmp_path: Path
) -> None:
    """The transport fails, not the answer: the gateway freezes (no REST answer, no hub
    message, its pushes lost) as the grace runs out, and its sockets drop after the close
    timed out. The account still ends flat (the timed-out close went through when the
    gateway thawed, or a retry did), every attempt is recorded, and nothing is sent to a
    position already flat."""
    live = await start(short_grace_ruleset(tmp_path, "1s"))
    gw, engine = live.gw, live.daemon.engine
    assert engine is not None
    gw.trader_place("MNQ", "buy", "market", 1)
    await wait_until(lambda: bool(engine.state.positions), 4, "the position seen")
    gw.freeze(2.0)
    await live.wait_for_record("no_stop_loss_grace", outcome=Outcome.FAILED, timeout=4)
    await gw.drop_connections()
    await wait_until(lambda: gw.position_size("MNQ") == 0, 2.0 + RETRY_BOUND_S, "MNQ flat")
    await wait_until(lambda: live.daemon.reconciled, RETRY_BOUND_S, "reconciled")
    await wait_until(lambda: not engine.enforcer.goals, RETRY_BOUND_S, "the goal confirmed")
    records = sent(await history_of(live, "no_stop_loss_grace"))
    assert records[0].outcome == Outcome.FAILED  # the call got no answer in time
    assert [r.values.get("attempt") for r in records[1:]] == [
        str(n) for n in range(2, len(records) + 1)
    ]
    assert len(records) == len(gw.requests.calls(CLOSE))  # every request is one record
    assert all(a.body.get("success") for a in gw.requests.answered(CLOSE))  # none to a flat one
