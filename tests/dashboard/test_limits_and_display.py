"""The dashboard's limit bars, read from a ruleset's own comparisons, and the demo's timeline."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from rmdsl.contract.events import OrderEvent, OrderStatus, OrderType, Side, TradeEvent
from rmdsl.dashboard.limits import limit_rows, limit_specs
from rmdsl.demo.display import Display
from rmdsl.engine.persistence import EnforcementRecord
from rmdsl.engine.state import AccountState
from rmdsl.pipeline import load_ruleset

RULES = """\
rmdsl: 1
name: limits
params:
  daily_loss: {value: -$500, stricter: higher}
  max_mnq: {value: 2, stricter: lower}
rules:
  realized:
    when: day.realized_pnl <= params.daily_loss
    do: [flatten, lockout(until: reset)]
  target:
    when: positions.count > 0 and day.pnl >= $800
    do: [flatten]
  flipped:
    when: -$300 >= day.unrealized_pnl
    do: [flatten]
  contracts:
    scope: symbol
    when: contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
"""


def test_limits_come_from_money_comparisons_of_the_ruleset(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(RULES, encoding="utf-8")
    ruleset = load_ruleset(path)
    specs = limit_specs(ruleset)
    assert [(s.rule_id, s.name, s.op.value, s.param, s.literal) for s in specs] == [
        ("realized", "day.realized_pnl", "<=", "daily_loss", None),
        ("target", "day.pnl", ">=", None, Decimal("800")),
        ("flipped", "day.unrealized_pnl", "<=", None, Decimal("-300")),  # the name on the left
    ]  # `contracts` compares a count to an int param: no money bar
    state = AccountState(1)
    state.ctx.day.realized_pnl = Decimal("-200")
    state.ctx.day.pnl = Decimal("200")
    rows = {r["rule"]: r for r in limit_rows(specs, ruleset, state.ctx)}
    assert rows["realized"]["room"] == Decimal("300") and rows["realized"]["used"] == 0.4
    assert rows["target"]["room"] == Decimal("600") and rows["target"]["used"] == 0.25
    assert rows["flipped"]["used"] == 0.0  # no open loss: nothing used


MLL = """\
rmdsl: 1
name: mll
params:
  account_size: $50000
  mll_distance: $2000
  mll_buffer: $250
rules:
  mll_guard:
    when: account.to_mll <= params.mll_buffer
    do: [flatten, lockout(until: reset)]
  week:
    when: week.realized_pnl <= -$1000
    do: [alert]
"""


def test_the_mll_and_the_week_are_bars_and_an_unknown_balance_shows_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mll.yaml"
    path.write_text(MLL, encoding="utf-8")
    ruleset = load_ruleset(path)
    specs = limit_specs(ruleset)
    assert [s.name for s in specs] == ["account.to_mll", "week.realized_pnl"]
    state = AccountState(1)
    state.account_model.set_params(ruleset.param_values())
    state.account_model.refresh()  # no balance yet: to_mll is unknown, no bar (no crash)
    assert [r["rule"] for r in limit_rows(specs, ruleset, state.ctx)] == ["week"]
    state.ctx.account.balance = Decimal(48_600)
    state.account_model.on_balance()
    rows = {r["rule"]: r for r in limit_rows(specs, ruleset, state.ctx)}
    assert rows["mll_guard"]["value"] == Decimal(600) and rows["mll_guard"]["room"] == 350


T = dt.datetime(2026, 11, 27, 15, 2, 48, tzinfo=dt.UTC)


def record(at: dt.datetime, target: str, action: str = "flatten") -> EnforcementRecord:
    return EnforcementRecord(at, 1, "daily_combined_loss", action, "loss", target=target)


def test_demo_timeline_is_in_time_order_and_names_a_cancelled_order() -> None:
    out = io.StringIO()
    display = Display(Console(file=out, width=200), ZoneInfo("America/Chicago"), hold_s=60)
    contract = "CON.F.US.ES.Z25"
    display.event(OrderEvent(17, 1, contract, T, OrderStatus.OPEN, OrderType.STOP, Side.SELL, 1))
    # the fill the flatten caused reaches the display before the flatten's record does
    display.event(
        TradeEvent(
            5,
            1,
            contract,
            T + dt.timedelta(seconds=1),
            Decimal(5989),
            None,
            Decimal(0),
            Side.SELL,
            1,
        )
    )
    display.enforcement(record(T, "order:17"))
    display.enforcement(record(T, contract))
    assert out.getvalue() == ""  # held: an earlier line may still come
    display.flush(force=True)
    lines = [line for line in out.getvalue().splitlines() if not line.lstrip().startswith("why")]
    assert "flatten: cancelled order 17 (ES stop)" in lines[0]
    assert "order:17" not in out.getvalue()
    assert "flatten ES" in lines[1]
    assert lines[2].startswith("09:02:49  fill")
