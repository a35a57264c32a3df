"""The engine on rulesets compiled by the real pipeline from YAML (not hand-built rules)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from enginekit import CHICAGO, ES, MNQ, D, Harness, clock, fill, order, position, quote

from rmdsl.contract.events import AccountEvent
from rmdsl.pipeline import load_ruleset
from rmdsl.rules.model import Ruleset

START = dt.datetime(2026, 3, 2, 9, tzinfo=CHICAGO).astimezone(dt.UTC)


def t(seconds: float) -> dt.datetime:
    return START + dt.timedelta(seconds=seconds)


def compile_yaml(tmp_path: Path, body: str, name: str = "r.yaml") -> Ruleset:
    path = tmp_path / name
    path.write_text("rmdsl: 1\nname: t\n" + body)
    return load_ruleset(path)


async def started(rs: Ruleset) -> Harness:
    return await Harness(rs, start=START).start()


async def test_yaml_loss_limit_with_a_directional_param(tmp_path: Path) -> None:
    rs = compile_yaml(
        tmp_path,
        """params:
  daily_loss: {value: -$400, stricter: higher}
rules:
  daily:
    when: day.realized_pnl <= params.daily_loss
    do: [flatten, lockout(until: reset)]
    message: "loss {day.realized_pnl} hit {params.daily_loss}"
""",
    )
    h = await started(rs)
    await h.feed(position(t(0), 1), order(1, t(0)), fill(1, t(1), "-399.99"))
    assert not h.engine.lockouts.active
    await h.feed(fill(2, t(2), "-0.01"))  # exactly -$400.00: fires (no buffer)
    assert h.engine.lockouts.account_locked
    rec = next(r for r in h.records if r.action.startswith("lockout"))
    assert rec.values == {"day.realized_pnl": "-400.00", "params.daily_loss": "-400"}
    # what a trader reads: typed by the schema (day.*) and by the param's declared type
    assert rec.shown == {"day.realized_pnl": "-$400.00", "params.daily_loss": "-$400.00"}
    assert "hit" in rec.reason


async def test_values_are_shown_as_the_language_writes_them(tmp_path: Path) -> None:
    rs = compile_yaml(
        tmp_path,
        """params:
  per_instrument: {value: {MNQ: 2, ES: 1}}
  patient: {value: true}
  hold: {value: 2m}
rules:
  too_big:
    scope: position
    when: params.patient and position.size > lookup(params.per_instrument, position.symbol, 0)
      and params.hold > 1m
    do: [close_position]
""",
    )
    h = await started(rs)
    await h.feed(position(t(0), 3))
    [rec] = h.records
    assert rec.shown == {
        "params.hold": "2m",
        "params.patient": "true",
        "params.per_instrument": "{MNQ: 2, ES: 1}",
        "position.size": "3",
        "position.symbol": "MNQ",
    }
    assert rec.values["params.hold"] == "120000"  # the machine text stays as it was
    # the version is recorded with the ruleset's clock: status/history show times on it
    assert [v.timezone for v in h.store.versions] == ["America/Chicago"]


async def test_yaml_for_timer_on_position_scope(tmp_path: Path) -> None:
    rs = compile_yaml(
        tmp_path,
        """rules:
  underwater:
    scope: position
    when: position.unrealized_pnl < -$20
    for: 30s
    do: [close_position]
""",
    )
    h = await started(rs)
    await h.feed(position(t(0), 1), order(1, t(0)), quote(t(5), 20950))
    await h.feed(clock(t(34.9)))
    assert h.broker.calls == []
    await h.feed(clock(t(35)))
    assert h.calls() == ["close_position"]


async def test_yaml_expression_arguments_bind_at_fire_time(tmp_path: Path) -> None:
    rs = compile_yaml(
        tmp_path,
        """params:
  per_symbol: {value: {MNQ: 2, ES: 1}}  # EP contracts (E-mini S&P) are symbol ES
rules:
  per_symbol:
    scope: symbol
    when: contracts(symbol) > lookup(params.per_symbol, symbol, 0)
    do: [reduce_position(to: lookup(params.per_symbol, symbol, 0))]
""",
    )
    h = await started(rs)
    await h.feed(order(1, t(0), size=5), order(2, t(0), contract=ES, size=5, stop=4990))
    await h.feed(position(t(1), 3), position(t(1), 3, contract=ES, pid=2, price=5000))
    calls = sorted(c.describe() for c in h.broker.calls)
    assert calls == [f"partial_close({ES}, 2)", f"partial_close({MNQ}, 1)"]


async def test_yaml_cooldown_and_lockout_until_can_trade(tmp_path: Path) -> None:
    rs = compile_yaml(
        tmp_path,
        """rules:
  guard:
    when: not account.can_trade
    do: [flatten, lockout(until: can_trade)]
  cool:
    scope: trade
    when: trade.is_close and trade.pnl < -$100
    do: [cooldown(10m)]
""",
    )
    h = await started(rs)
    await h.feed(AccountEvent(1, "a", D(50000), False, t(1)))
    assert h.engine.lockouts.account_locked
    (lk,) = h.store.lockouts.values()
    assert lk.until_kind == "can_trade" and lk.until_ts is None
    await h.feed(AccountEvent(1, "a", D(50000), True, t(2)))
    assert not h.engine.lockouts.active
    assert h.store.lockouts[lk.id].lifted_at == t(2)
    await h.feed(fill(1, t(3), -150))
    (cool,) = h.engine.lockouts.active.values()
    assert cool.until_ts == t(603)


async def test_yaml_loosened_param_deferred_on_reload(tmp_path: Path) -> None:
    body = """params:
  max_contracts: {{value: {n}, stricter: lower}}
rules:
  max:
    when: positions.contracts > params.max_contracts
    do: [alert]
"""
    h = await started(compile_yaml(tmp_path, body.format(n=3)))
    await h.engine.swap_ruleset(compile_yaml(tmp_path, body.format(n=5)))
    assert h.engine.ctx.params["max_contracts"] == 3
    await h.feed(order(1, t(0), size=4), position(t(1), 4))
    assert h.notifier.titles() == ["rule max"]
    await h.feed(clock(dt.datetime(2026, 3, 2, 17, tzinfo=CHICAGO)))
    assert h.engine.ctx.params["max_contracts"] == 5
    await h.engine.swap_ruleset(compile_yaml(tmp_path, body.format(n=2)))
    assert h.engine.ctx.params["max_contracts"] == 2


async def test_the_shipped_ruleset_loads_and_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    rs = load_ruleset(root / "rulesets/topstep.yaml")
    h = await started(rs)
    await h.feed(position(t(0), 1), order(1, t(0)), quote(t(1), 21001), fill(1, t(2), -10))
    await h.feed(clock(t(60)))
    assert h.engine.ctx.day.realized_pnl == D(-10)


async def test_the_grace_message_is_rendered_by_the_template_compiler(tmp_path: Path) -> None:
    # holes are expressions shown as the language writes them; `{{` is a brace (the old
    # regex renderer printed `-300` for money, kept `{{` and could not compute)
    rs = compile_yaml(
        tmp_path,
        """params:
  cap: {value: -$300}
rules:
  no_stop_loss_grace:
    grace: 1m
    message: "{position.symbol} x{position.size * 2}: no stop {{cap {params.cap}}}"
""",
    )
    h = await started(rs)
    await h.feed(position(t(0), 1))
    firing = h.engine.evaluator._fire_grace(MNQ, 0)
    assert firing is not None
    assert firing.message == "MNQ x2: no stop {cap -$300.00}"


async def test_the_default_grace_message_names_the_symbol(tmp_path: Path) -> None:
    h = await started(compile_yaml(tmp_path, "rules:\n  no_stop_loss_grace: {grace: 1m}\n"))
    await h.feed(position(t(0), 1))
    firing = h.engine.evaluator._fire_grace(MNQ, 0)
    assert firing is not None
    assert firing.message == "position MNQ has no stop loss after the grace period"
