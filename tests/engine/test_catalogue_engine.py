"""The catalogue's engine pieces on YAML compiled by the real pipeline: the stronger action
wins (every firing recorded), breakeven, the signed position.stop_ticks, and pause."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

from enginekit import MNQ, Harness, fill, order, position, quote, ruleset

from rmdsl.contract.events import OrderType, Side
from rmdsl.engine.lockouts import Lockouts, is_pause
from rmdsl.engine.persistence import LockoutKind
from rmdsl.engine.tradingday import Calendar
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import Ruleset

# Monday 2026-03-02 09:00 America/Chicago
START = dt.datetime(2026, 3, 2, 15, tzinfo=dt.UTC)


def t(seconds: float) -> dt.datetime:
    return START + dt.timedelta(seconds=seconds)


def compile_yaml(tmp_path: Path, body: str) -> Ruleset:
    path = tmp_path / "r.yaml"
    path.write_text("rmdsl: 1\nname: t\n" + body)
    return load_ruleset(path)


async def started(rs: Ruleset) -> Harness:
    return await Harness(rs, start=START).start()


# ---- several rules on one event ------------------------------------------------------------
STRONGER = """rules:
  shrink:
    when: positions.contracts > 1
    do: [reduce_position(to: 1)]
  close_big:
    scope: position
    when: position.size >= 3
    do: [close_position]
  flatten_big:
    when: positions.contracts >= 3
    do: [flatten]
  lock_huge:
    when: positions.contracts >= 4
    do: [lockout(until: reset)]
"""


async def test_lockout_beats_flatten_close_and_reduce_and_every_firing_is_recorded(
    tmp_path: Path,
) -> None:
    h = await started(compile_yaml(tmp_path, STRONGER))
    await h.feed(order(1, t(0), size=4), position(t(1), 4))
    assert h.engine.lockouts.account_locked
    by_rule = {(r.rule_name, r.action): r for r in h.records}
    assert set(by_rule) >= {
        ("lock_huge", "lockout(until=reset)"),
        ("flatten_big", "flatten"),
        ("close_big", "close_position"),
        ("shrink", "reduce_position(to=1)"),
    }
    for rule in ("flatten_big", "close_big", "shrink"):
        skipped = [r for r in h.records if r.rule_name == rule]
        assert [r.outcome for r in skipped] == ["skipped"], rule
        assert skipped[0].error == "covered by the flatten of lock_huge"
    # one close and one cancel reached the broker: the lockout's flatten
    assert sorted(h.calls()) == ["cancel_order", "close_position"]


async def test_flatten_beats_reduce_and_close(tmp_path: Path) -> None:
    h = await started(compile_yaml(tmp_path, STRONGER))
    await h.feed(order(1, t(0), size=3), position(t(1), 3))
    assert not h.engine.lockouts.account_locked
    outcome = {r.rule_name: str(r.outcome) for r in h.records if r.target != f"order:{1}"}
    assert outcome == {"flatten_big": "ok", "close_big": "skipped", "shrink": "skipped"}
    assert h.calls().count("close_position") == 1
    assert "partial_close" not in h.calls()


async def test_close_beats_reduce_of_the_same_position(tmp_path: Path) -> None:
    body = STRONGER.replace("positions.contracts >= 3", "positions.contracts >= 9")
    h = await started(compile_yaml(tmp_path, body))
    await h.feed(order(1, t(0), size=3), position(t(1), 3))
    got = {r.rule_name: str(r.outcome) for r in h.records}
    assert got == {"close_big": "ok", "shrink": "skipped"}
    assert h.calls() == ["close_position"]  # no partial close of what is being closed


# ---- breakeven and the signed stop distance ------------------------------------------------
BREAKEVEN = """rules:
  be:
    scope: position
    when: position.unrealized_ticks >= 4 and position.stop_ticks > 0
    do: [breakeven]
"""


async def test_stop_ticks_is_signed_from_the_entry(tmp_path: Path) -> None:
    h = await started(compile_yaml(tmp_path, "rules: {}\n"))
    await h.feed(position(t(0), 1), order(1, t(0), stop=20997.5))
    view = h.engine.state.positions[MNQ].view
    assert view.stop_ticks == 10
    await h.feed(order(1, t(1), stop=21001))  # above a long's entry: 4 ticks locked in
    assert view.stop_ticks == -4
    await h.feed(order(2, t(2), stop=21002))  # the tightest of two stops counts
    assert view.stop_ticks == -8
    await h.feed(position(t(3), 1, long=False), order(3, t(3), side=Side.BUY, stop=20999))
    assert h.engine.state.positions[MNQ].view.stop_ticks == -4  # a short's stop below entry


async def test_breakeven_moves_the_stop_to_the_entry_once(tmp_path: Path) -> None:
    h = await started(compile_yaml(tmp_path, BREAKEVEN))
    await h.feed(position(t(0), 1), order(7, t(0), stop=20997.5), quote(t(1), 21000.75))
    assert h.broker.calls == []  # 3 ticks
    await h.feed(quote(t(2), 21001))
    assert [c.describe() for c in h.broker.calls] == ["modify_order(7, stop_price=21000.00)"]
    assert h.engine.state.positions[MNQ].view.stop_ticks == 0
    # the trader moves it back below the entry: breakeven is done for this position
    await h.feed(order(7, t(3), stop=20999), quote(t(4), 21000), quote(t(5), 21001.5))
    assert len(h.broker.calls) == 1
    assert h.records[-1].outcome == "skipped" and h.records[-1].error is not None
    assert "already" in h.records[-1].error


async def test_breakeven_places_a_stop_rounded_to_the_safe_side_when_none(
    tmp_path: Path,
) -> None:
    body = BREAKEVEN.replace("and position.stop_ticks > 0", "and not position.has_stop")
    h = await started(compile_yaml(tmp_path, body))
    # an average entry between ticks: a long's stop rounds up, never below the entry
    await h.feed(position(t(0), 2, price="21000.125"), quote(t(1), 21002))
    (call,) = h.broker.calls
    assert call.method == "place_order" and call.kwargs["stop_price"] == Decimal("21000.25")
    h2 = await started(compile_yaml(tmp_path, body))
    await h2.feed(position(t(0), 2, long=False, price="21000.125"), quote(t(1), 20998))
    assert h2.broker.calls[0].kwargs["stop_price"] == Decimal("21000.00")


async def test_breakeven_never_loosens_a_stop_in_profit(tmp_path: Path) -> None:
    body = BREAKEVEN.replace("and position.stop_ticks > 0", "")
    h = await started(compile_yaml(tmp_path, body))
    await h.feed(position(t(0), 1), order(7, t(0), stop=21000.5), quote(t(1), 21002))
    assert h.broker.calls == []
    assert h.records[-1].outcome == "skipped"


# ---- pause -----------------------------------------------------------------------------------
PAUSE = """rules:
  busy:
    scope: trade
    when: fills(1m) > 1
    do: [pause(5m)]
"""


async def test_pause_keeps_open_positions_and_blocks_new_exposure(tmp_path: Path) -> None:
    h = await started(compile_yaml(tmp_path, PAUSE))
    await h.feed(order(1, t(0)), fill(1, t(0)), position(t(0), 1))
    await h.feed(fill(2, t(10)), position(t(10), 2))  # the second fill in a minute
    assert [(r.rule_name, r.action, str(r.outcome)) for r in h.records] == [
        ("busy", "pause(until=5m)", "ok")
    ]
    assert h.calls() == []  # nothing closed, nothing cancelled
    assert h.engine.lockouts.paused and not h.engine.lockouts.account_locked
    # the existing position's stop may be moved, a closing-side target placed
    await h.feed(order(1, t(20), stop=20995, size=2))
    await h.feed(order(2, t(21), type=OrderType.LIMIT, stop=None, limit=21010, size=2))
    assert h.calls() == []
    # an entry order is cancelled, a position that opens is closed
    await h.feed(order(3, t(30), type=OrderType.LIMIT, side=Side.BUY, stop=None, limit=20900))
    assert h.calls() == ["cancel_order"]
    await h.feed(position(t(40), 1, contract="CON.F.US.MES.H26", price=5000))
    assert h.broker.calls[-1].describe() == "close_position(CON.F.US.MES.H26)"
    close = next(r for r in h.records if r.action == "close_position")
    assert "paused" in close.reason  # its own closing fill is the third in a minute: a new pause
    # after the pause new positions are kept
    await h.feed(position(t(400), 1, contract="CON.F.US.MYM.H26", price=40000))
    assert h.broker.calls[-1].method == "close_position"
    assert len([c for c in h.broker.calls if c.method == "close_position"]) == 1


def test_a_pause_is_covered_by_a_lockout_but_never_covers_one() -> None:
    lk, cal = Lockouts(), Calendar.of(ruleset())
    locked, new = lk.add(
        account_id=1, rule_id="lock", symbol=None, until=600_000, now=START, calendar=cal
    )
    assert new
    paused, new = lk.add(
        account_id=1,
        rule_id="p",
        symbol=None,
        until=60_000,
        now=START,
        calendar=cal,
        pause=True,
    )
    assert not new and paused is locked
    lk2 = Lockouts()
    p, _ = lk2.add(
        account_id=1, rule_id="p", symbol=None, until=600_000, now=START, calendar=cal, pause=True
    )
    assert is_pause(p) and p.kind is LockoutKind.PAUSE and not p.id.startswith("pause-")
    lock, new = lk2.add(
        account_id=1, rule_id="lock", symbol=None, until=60_000, now=START, calendar=cal
    )
    assert new and not is_pause(lock) and lk2.account_locked


def test_a_restored_pause_is_still_a_pause() -> None:
    lk, cal = Lockouts(), Calendar.of(ruleset())
    rec, _ = lk.add(
        account_id=1, rule_id="p", symbol=None, until=60_000, now=START, calendar=cal, pause=True
    )
    restored = Lockouts()
    restored.restore((dataclasses.replace(rec),))
    assert restored.paused and not restored.account_locked
    assert restored.blocking("MNQ", since=START) is None  # what existed when it started
    assert restored.blocking("MNQ", since=t(1)) is not None  # what opened during it


async def test_a_lockout_already_in_force_still_gets_the_new_position_closed(
    tmp_path: Path,
) -> None:
    """The re-firing lockout is covered (not re-sent), but the close it was to cover is sent."""
    body = """rules:
  day_limit:
    when: day.realized_pnl <= -$100
    do: [lockout(until: reset)]
  exposed:
    when: positions.count > 0 and day.realized_pnl <= -$100
    do: [lockout(10m)]
"""
    h = await started(compile_yaml(tmp_path, body))
    await h.feed(fill(1, t(0), "-100"))
    assert h.engine.lockouts.account_locked and h.calls() == []
    await h.feed(position(t(10), 1))
    assert h.calls() == ["close_position"]
    assert not h.engine.state.positions
    got = [(r.rule_name, r.action, str(r.outcome)) for r in h.records[1:]]
    assert ("exposed", "lockout(until=10m)", "skipped") in got
    assert ("day_limit", "close_position", "ok") in got
