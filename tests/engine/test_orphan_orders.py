"""A stop that a pause let through because it protected an open position is an entry once
that position is gone (rmdsl.engine.intake): the trader cannot keep it as a way back in
while paused, and a reduce-only account cannot either (docs/engine.md, "Lockouts")."""

from __future__ import annotations

from pathlib import Path

from enginekit import Harness, fill, order, position
from test_lockouts_bounded import BUSY_RULES, START, t

from rmdsl.contract.events import Side
from rmdsl.pipeline import load_ruleset


async def paused_with_a_position(tmp_path: Path, action: str) -> Harness:
    """A long MNQ opened before the account is paused (or made reduce-only): it is kept."""
    (tmp_path / "r.yaml").write_text(BUSY_RULES.format(action=action))
    h = await Harness(load_ruleset(tmp_path / "r.yaml"), start=START).start()
    await h.feed(position(t(0), 1))
    await h.feed(fill(1, t(1), contract="CON.F.US.MES.H26"))
    await h.feed(fill(2, t(2), 5, contract="CON.F.US.MES.H26", side=Side.SELL))
    assert h.engine.lockouts.active
    return h


async def test_a_stop_left_behind_by_a_closed_position_is_cancelled_while_paused(
    tmp_path: Path,
) -> None:
    h = await paused_with_a_position(tmp_path, "pause(30m)")
    await h.feed(order(7, t(60)))  # a protective stop: it closes the long, so it stays
    assert "cancel_order" not in h.calls()
    await h.feed(position(t(90), 0))  # the trader closes the long: the stop would open a short
    assert [c.args for c in h.broker.calls if c.method == "cancel_order"] == [(7,)]


async def test_a_stop_that_still_protects_a_position_is_kept(tmp_path: Path) -> None:
    h = await paused_with_a_position(tmp_path, "pause(30m)")
    await h.feed(order(7, t(60)), order(8, t(61), contract="CON.F.US.MES.H26"))
    await h.feed(position(t(90), 1, contract="CON.F.US.MES.H26", long=False))  # policed
    await h.feed(position(t(91), 0, contract="CON.F.US.MES.H26"))
    cancelled = [c.args for c in h.broker.calls if c.method == "cancel_order"]
    assert (7,) not in cancelled  # MNQ's long is still open: its stop still protects it


async def test_a_stop_left_behind_is_cancelled_under_reduce_only(tmp_path: Path) -> None:
    h = await paused_with_a_position(tmp_path, "reduce_only(until: reset)")
    await h.feed(order(7, t(60)))
    assert "cancel_order" not in h.calls()
    await h.feed(position(t(90), 0))
    assert [c.args for c in h.broker.calls if c.method == "cancel_order"] == [(7,)]
