"""The work a step leaves out is work nothing reads (docs/performance.md, "Less work per
event"): ages are worked out only for a ruleset whose conditions read them, yet a firing's
message shows them current; `now.*` and `session.ends_in` are worked out when read; an
unchanged price leaves the P&L as it is; trade-scoped rules run only at fills."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from enginekit import MNQ, D, Harness, clock, fill, order, position, quote
from test_lockouts_bounded import START, t

from rmdsl.lang.context import NowView, SessionView
from rmdsl.lang.schema import Trigger
from rmdsl.pipeline import load_ruleset

HEADER = "rmdsl: 1\nname: t\ntimezone: America/Chicago\nrules:\n"


async def engine_of(tmp_path: Path, rules: str) -> Harness:
    (tmp_path / "r.yaml").write_text(HEADER + rules)
    return await Harness(load_ruleset(tmp_path / "r.yaml"), start=START).start()


async def test_a_condition_on_position_age_sees_the_age_at_each_clock_event(
    tmp_path: Path,
) -> None:
    h = await engine_of(
        tmp_path,
        "  held_too_long:\n    scope: position\n    when: position.age > 30s\n"
        "    do: [close_position]\n",
    )
    assert h.engine.evaluator.reads_ages
    await h.feed(position(t(0), 1), order(9, t(0)))  # protected: no grace close
    await h.feed(clock(t(29)), clock(t(30)))
    assert "close_position" not in h.calls()
    await h.feed(clock(t(31)))
    assert h.calls() == ["close_position"]


async def test_a_message_shows_the_age_though_no_condition_reads_it(tmp_path: Path) -> None:
    h = await engine_of(
        tmp_path,
        "  underwater:\n    scope: position\n    when: position.unrealized_pnl < -$20\n"
        "    do: [alert]\n    message: 'held {position.age}'\n",
    )
    assert not h.engine.evaluator.reads_ages
    await h.feed(position(t(0), 1), order(9, t(0)), quote(t(45), 20950))
    (record,) = [r for r in h.records if r.rule_name == "underwater"]
    assert record.reason == "held 45s"


async def test_an_unchanged_price_keeps_the_pnl_and_a_new_tick_value_still_moves_it(
    tmp_path: Path,
) -> None:
    h = await engine_of(
        tmp_path,
        "  never:\n    when: day.unrealized_pnl < -$1000000\n    do: [alert]\n",
    )
    st = h.engine.state
    await h.feed(position(t(0), 2), order(9, t(0)), quote(t(1), 20990))
    assert st.ctx.day.unrealized_pnl == D(-40)  # 10 points x $2 x 2 contracts
    await h.feed(quote(t(2), D("20990.00")))
    assert st.ctx.day.unrealized_pnl == D(-40)
    st.set_contract("MNQ", D("0.25"), D("1"))  # the tick value changes: the P&L follows
    await h.feed(quote(t(3), 20990))
    assert st.positions[MNQ].view.unrealized_pnl == st.ctx.day.unrealized_pnl == D(-80)


def test_now_is_worked_out_in_the_timezone_at_its_first_read() -> None:
    view = NowView()
    chicago = load_zone()
    view.move(dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC), chicago)
    assert (view.time, view.date, view.weekday) == (dt.time(9, 30), dt.date(2026, 3, 2), 0)
    view.move(dt.datetime(2026, 3, 3, 5, 0, tzinfo=dt.UTC), chicago)  # 23:00 Monday there
    assert (view.time, view.weekday) == (dt.time(23, 0), 0)
    assert view.value == dt.datetime(2026, 3, 3, 5, 0, tzinfo=dt.UTC)


def test_session_ends_in_follows_the_clock() -> None:
    view = SessionView()
    end = dt.datetime(2026, 3, 2, 21, 10, tzinfo=dt.UTC)
    view.move(end - dt.timedelta(minutes=5), end)
    assert view.ends_in == 300_000
    view.move(end - dt.timedelta(seconds=1), end)
    assert view.ends_in == 1_000
    view.move(end, None)  # closed
    assert view.ends_in == 0


async def test_trade_scoped_rules_run_at_fills_only(tmp_path: Path) -> None:
    h = await engine_of(
        tmp_path,
        "  busy:\n    scope: trade\n    when: session.fills > 1\n    do: [alert]\n",
    )
    assert Trigger.CLOCK in h.engine.evaluator.rules["busy"].triggers
    series = h.engine.metrics.rules["busy"]
    await h.feed(fill(1, t(1)), fill(2, t(2)))
    runs = series.count
    assert runs == 2
    await h.feed(clock(t(3)), clock(t(4)))
    assert series.count == runs  # a clock event has no trade to run it for
    clock_run = h.engine.evaluator._run_of(frozenset((Trigger.CLOCK,)))
    assert "busy" not in [plan.rule.id for plan in clock_run]  # nor is it looked at
    assert len([r for r in h.records if r.rule_name == "busy"]) == 1


def load_zone() -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/Chicago")
