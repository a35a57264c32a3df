"""The account row's params record: made again only when what it says can have changed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from enginekit import D, param, rule, ruleset

from rmdsl.engine import params
from rmdsl.engine.state import AccountState
from rmdsl.engine.today import Today
from rmdsl.rules.model import Ruleset, Stricter

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def limit(value: str) -> Ruleset:
    never = rule("daily", lambda c: False)
    return ruleset(never, params={"daily_loss": param("daily_loss", D(value), Stricter.HIGHER)})


def test_a_fill_s_row_reuses_the_params_text_until_something_in_it_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[dict[str, Any]] = []
    real = params.to_record

    def counted(*args: Any) -> dict[str, Any]:
        made.append(out := real(*args))
        return out

    monkeypatch.setattr(params, "to_record", counted)
    rs = limit("-400")
    today, st = Today.of(rs), AccountState(1)
    st.now, st.ctx.params = NOW, rs.param_values()
    today.begin(NOW)

    def row() -> dict[str, Any]:
        record = today.account_record(st).params
        fresh = real(today.ruleset, st.ctx.params, today.deferred_params, today.next_reset)
        assert record == fresh  # always what to_record would say now
        return record

    first = row()
    assert row() == first and row() == first
    assert len(made) == 1  # three rows of the same day: one record made
    st.ctx.params = {"daily_loss": D("-500")}  # a tightened value in force
    assert row()["in_force"] == {"daily_loss": "-500"}
    today.deferred_params = {"daily_loss": D("-1000")}  # a loosened one waits
    assert "waiting" in row()
    waits = len(made)
    today.next_reset += dt.timedelta(days=1)  # the reset it waits for moved: the line says so
    row()
    today.use(limit("-400"), {}, NOW)  # a reload: another ruleset, even if alike
    row()
    assert len(made) == waits + 2
    row()
    assert len(made) == waits + 2
