"""The longest durations `check` accepts run: no OverflowError at the edge (366d, RM047).

Before the bound, `cooldown(999999999d)` passed `check` and failed at run time with
"OverflowError: date value out of range"; the lockout silently never applied.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from enginekit import CHICAGO, D, Harness, fill, order, position

from rmdsl.errors import CheckError
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import MAX_DURATION_MS, Action, Ruleset

START = dt.datetime(2026, 3, 2, 9, tzinfo=CHICAGO).astimezone(dt.UTC)
LONGEST = dt.timedelta(milliseconds=MAX_DURATION_MS)


def compile_yaml(tmp_path: Path, rules: str) -> Ruleset:
    path = tmp_path / "r.yaml"
    path.write_text("rmdsl: 1\nname: t\nparams:\n  factor: 1000\nrules:\n" + rules)
    return load_ruleset(path)


def t(seconds: float) -> dt.datetime:
    return START + dt.timedelta(seconds=seconds)


async def test_the_longest_cooldown_applies(tmp_path: Path) -> None:
    rs = compile_yaml(tmp_path, "  r:\n    when: day.trades >= 1\n    do: [cooldown(366d)]\n")
    h = await Harness(rs, start=START).start()
    await h.feed(position(t(0), 1), order(1, t(0)), fill(1, t(1), D(-10)))
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts == t(1) + LONGEST


async def test_an_expression_duration_is_clamped_to_the_longest(tmp_path: Path) -> None:
    """`params.factor * 1d` is 1000 days, known only when the rule fires: clamped, not raised."""
    rs = compile_yaml(
        tmp_path, "  r:\n    when: day.trades >= 1\n    do: [pause(params.factor * 1d)]\n"
    )
    h = await Harness(rs, start=START).start()
    await h.feed(position(t(0), 1), order(1, t(0)), fill(1, t(1), D(-10)))
    (lk,) = h.engine.lockouts.active.values()
    assert lk.until_ts == t(1) + LONGEST


async def test_the_longest_for_sets_its_timer(tmp_path: Path) -> None:
    rs = compile_yaml(
        tmp_path, "  r:\n    when: positions.count > 0\n    for: 366d\n    do: [flatten]\n"
    )
    h = await Harness(rs, start=START).start()
    await h.feed(position(t(0), 1))
    assert h.broker.calls == []  # waiting for 366 days, not crashed


@pytest.mark.parametrize(
    "fields",
    [
        "do: [cooldown(999999999d)]",
        "do: [lockout(until: 367d)]",
        "do: [pause(400d)]",
        "do: [block_symbol(until: 9999d)]",
        "do: [cooldown(params.long)]",
        "for: 999999999d\n    do: [flatten]",
    ],
)
def test_longer_durations_are_refused_by_check(tmp_path: Path, fields: str) -> None:
    rules = f"  r:\n    scope: position\n    when: position.size > 1\n    {fields}\n"
    path = tmp_path / "r.yaml"
    path.write_text("rmdsl: 1\nname: t\nparams:\n  long: 1000d\nrules:\n" + rules)
    with pytest.raises(CheckError) as err:
        load_ruleset(path)
    assert [d.code for d in err.value.diagnostics if d.is_error] == ["RM047"]


def test_bind_clamps_an_expression_duration() -> None:
    action = Action("lockout", {"until": 0}, exprs={"until": lambda ctx: 10**15})
    assert action.bind(object()).args["until"] == MAX_DURATION_MS  # type: ignore[arg-type]
