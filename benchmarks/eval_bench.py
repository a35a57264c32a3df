"""Ten rule predicates evaluated by rmdsl (compiled), hand-written Python,
rule-engine and cel-python on the same state: ns per evaluation and the ratios;
then the shipped catalogue's map / list predicates: generated code vs hand-written.

Run: .venv/bin/python benchmarks/eval_bench.py [--number N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import re
import timeit
from collections.abc import Callable
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from rmdsl.lang.check import CheckEnv, check_expression
from rmdsl.lang.codegen import compile_predicate
from rmdsl.lang.context import EvalContext, OrderView, PositionView, TradeView
from rmdsl.lang.parser import parse_expression
from rmdsl.lang.schema import Scope
from rmdsl.lang.types import BOOL, INT, MONEY, STRING, list_of, map_of


class Funcs:
    def contracts(self, symbol: str) -> int:
        return 3

    def fills(self, window_ms: int) -> int:
        return 12

    def trades(self, window_ms: int) -> int:
        return 4

    def losses(self, window_ms: int) -> int:
        return 2

    def pnl(self, window_ms: int) -> Decimal:
        return Decimal("-120")

    def tick_value(self, symbol: str) -> Decimal:
        return Decimal("0.50")

    def tick_size(self, symbol: str) -> Decimal:
        return Decimal("0.25")


PARAMS = {
    "daily_loss": (MONEY, Decimal(-1000)),
    "target": (MONEY, Decimal(1500)),
    "max_contracts": (INT, 5),
    "per_instrument": (map_of(INT), MappingProxyType({"MNQ": 2, "ES": 1})),
    "instrument_default": (INT, 3),
    "unknown_instruments": (STRING, "allow_default"),
    "blocked_symbols": (list_of(STRING), ("CL*", "6E")),
}

# (name, rmdsl source, hand-written, rule-engine source, CEL source)
CASES: list[tuple[str, str, Callable[[EvalContext], bool], str, str]] = [
    (
        "daily_loss",
        "day.realized_pnl <= params.daily_loss",
        lambda c: c.day.realized_pnl <= c.params["daily_loss"],
        "realized_pnl <= daily_loss",
        "realized_pnl <= daily_loss",
    ),
    (
        "profit_target",
        "day.pnl >= params.target",
        lambda c: c.day.pnl >= c.params["target"],
        "pnl >= target",
        "pnl >= target",
    ),
    (
        "max_contracts",
        "positions.contracts > params.max_contracts",
        lambda c: c.positions.contracts > c.params["max_contracts"],
        "contracts > max_contracts",
        "contracts > max_contracts",
    ),
    (
        "symbol_contracts",
        "contracts(position.symbol) > 2",
        lambda c: c.funcs.contracts(c.position.symbol) > 2,  # type: ignore[union-attr]
        "symbol_contracts > 2",
        "symbol_contracts > 2",
    ),
    (
        "session_hours",
        "now.time not in 08:30..15:10",
        lambda c: not (dt.time(8, 30) <= c.now.time < dt.time(15, 10)),
        "not (time >= '08:30' and time < '15:10')",
        "!(time >= '08:30' && time < '15:10')",
    ),
    (
        "trade_loss",
        "trade.pnl <= -$100",
        lambda c: c.trade.pnl <= Decimal(-100),  # type: ignore[union-attr]
        "trade_pnl <= -100",
        "trade_pnl <= -100.0",
    ),
    (
        "tilt",
        "day.consecutive_losses >= 3 and fills(1h) > 10",
        lambda c: c.day.consecutive_losses >= 3 and c.funcs.fills(3_600_000) > 10,
        "consecutive_losses >= 3 and fills > 10",
        "consecutive_losses >= 3 && fills > 10",
    ),
    (
        "open_loss",
        "position.unrealized_pnl <= -$300",
        lambda c: c.position.unrealized_pnl <= Decimal(-300),  # type: ignore[union-attr]
        "unrealized <= -300",
        "unrealized <= -300.0",
    ),
    (
        "micro_symbols",
        'position.symbol matches "m*"',
        lambda c: c.position.symbol.lower().startswith("m"),  # type: ignore[union-attr]
        "symbol =~ '(?i)m.*'",
        "symbol.matches('(?i)^m.*')",
    ),
    (
        "chained",
        "0 < positions.contracts <= params.max_contracts",
        lambda c: 0 < c.positions.contracts <= c.params["max_contracts"],
        "contracts > 0 and contracts <= max_contracts",
        "contracts > 0 && contracts <= max_contracts",
    ),
]


def make_context() -> EvalContext:
    ctx = EvalContext(params={name: value for name, (_, value) in PARAMS.items()}, funcs=Funcs())
    ctx.day.realized_pnl = ctx.day.pnl = Decimal("-640.50")
    ctx.day.consecutive_losses = 3
    ctx.positions.contracts = 4
    ctx.position = PositionView(symbol="MNQ", unrealized_pnl=Decimal("-120"))
    ctx.trade = TradeView(symbol="MNQ", pnl=Decimal("-45"))
    ctx.order = OrderView(symbol="MNQ")
    ctx.symbol = "MNQ"
    ctx.now.set(dt.datetime(2026, 3, 2, 16, 5))
    return ctx


def flat_values(ctx: EvalContext) -> dict[str, Any]:
    """The same state as the flat record rule-engine and CEL read."""
    assert ctx.position is not None and ctx.trade is not None
    return {
        "realized_pnl": float(ctx.day.realized_pnl),
        "pnl": float(ctx.day.pnl),
        "daily_loss": -1000.0,
        "target": 1500.0,
        "contracts": ctx.positions.contracts,
        "max_contracts": 5,
        "symbol_contracts": 3,
        "time": ctx.now.time.strftime("%H:%M"),
        "trade_pnl": float(ctx.trade.pnl),
        "consecutive_losses": 3,
        "fills": 12,
        "unrealized": float(ctx.position.unrealized_pnl),
        "symbol": ctx.position.symbol,
    }


def compile_rmdsl(source: str, scope: Scope | None = None) -> Any:
    if scope is None:
        scope = Scope.POSITION if "position." in source else Scope.ACCOUNT
        scope = Scope.TRADE if "trade." in source else scope
    expr = parse_expression(source, path="bench")
    checked = check_expression(expr, CheckEnv("bench", scope, PARAMS, BOOL))
    assert checked.ok, checked.diagnostics
    return compile_predicate(checked)


_BLOCKED = tuple(re.compile(p, re.IGNORECASE).match for p in ("CL.*\\Z", "6E\\Z"))


def _per_instrument(c: EvalContext) -> bool:
    limits: Any = c.params["per_instrument"]
    symbol: Any = c.symbol
    if symbol not in limits:
        return False
    limit = limits[symbol] if symbol in limits else limits.get(symbol.upper(), 0)
    return bool(c.funcs.contracts(symbol) > limit)


def _unknown_limit(c: EvalContext) -> bool:
    p: Any = c.params
    symbol: Any = c.symbol
    return (
        p["unknown_instruments"] == "allow_default"
        and symbol not in p["per_instrument"]
        and c.funcs.contracts(symbol) > p["instrument_default"]
    )


def _unknown_block(c: EvalContext) -> bool:
    p: Any = c.params
    return p["unknown_instruments"] == "block" and c.symbol not in p["per_instrument"]


# the shipped catalogue's conditions that read maps and lists (rulesets/base/*.yaml)
CATALOGUE: list[tuple[str, Scope, str, Callable[[EvalContext], bool]]] = [
    (
        "per_instrument",
        Scope.SYMBOL,
        "symbol in params.per_instrument and "
        "contracts(symbol) > lookup(params.per_instrument, symbol, 0)",
        _per_instrument,
    ),
    (
        "unknown_limit",
        Scope.SYMBOL,
        'params.unknown_instruments == "allow_default" and not (symbol in params.per_instrument)'
        " and contracts(symbol) > params.instrument_default",
        _unknown_limit,
    ),
    (
        "unknown_block",
        Scope.SYMBOL,
        'params.unknown_instruments == "block" and not (symbol in params.per_instrument)',
        _unknown_block,
    ),
    (
        "blocked_orders",
        Scope.ORDER,
        "order.symbol matches params.blocked_symbols",
        lambda c: any(m(c.order.symbol) for m in _BLOCKED),  # type: ignore[union-attr]
    ),
]


def catalogue(ctx: EvalContext, number: int) -> None:
    print(f"\n{'catalogue':<18}{'rmdsl':>9}{'python':>9}{'rm/py':>8}")
    for name, scope, source, hand in CATALOGUE:
        ours = compile_rmdsl(source, scope)
        assert ours(ctx) == hand(ctx), name
        ns = [per_call_ns(functools.partial(f, ctx), number) for f in (ours, hand)]
        print(f"{name:<18}{ns[0]:>9.0f}{ns[1]:>9.0f}{ns[0] / ns[1]:>8.2f}")


def per_call_ns(fn: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e9


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--number", type=int, default=20_000)
    number = args.parse_args().number
    import celpy
    import rule_engine

    ctx = make_context()
    flat = flat_values(ctx)
    env = celpy.Environment()
    cel_act = celpy.json_to_cel(flat)
    print(
        f"{'predicate':<18}{'rmdsl':>9}{'python':>9}{'rule-eng':>10}{'cel':>11}"
        f"{'rm/py':>8}{'re/rm':>8}{'cel/rm':>8}"
    )
    totals = [0.0, 0.0, 0.0, 0.0]
    for name, source, hand, re_src, cel_src in CASES:
        ours = compile_rmdsl(source)
        assert ours(ctx) == hand(ctx), name
        rule = rule_engine.Rule(re_src)
        assert rule.matches(flat) == hand(ctx), name
        prog = env.program(env.compile(cel_src))
        assert bool(prog.evaluate(cel_act)) == hand(ctx), name
        ns = [
            per_call_ns(functools.partial(ours, ctx), number),
            per_call_ns(functools.partial(hand, ctx), number),
            per_call_ns(functools.partial(rule.matches, flat), max(number // 50, 100)),
            per_call_ns(functools.partial(prog.evaluate, cel_act), max(number // 200, 50)),
        ]
        totals = [t + n for t, n in zip(totals, ns, strict=True)]
        print(
            f"{name:<18}{ns[0]:>9.0f}{ns[1]:>9.0f}{ns[2]:>10.0f}{ns[3]:>11.0f}"
            f"{ns[0] / ns[1]:>8.2f}{ns[2] / ns[0]:>8.0f}{ns[3] / ns[0]:>8.0f}"
        )
    t = totals
    print(
        f"{'total':<18}{t[0]:>9.0f}{t[1]:>9.0f}{t[2]:>10.0f}{t[3]:>11.0f}"
        f"{t[0] / t[1]:>8.2f}{t[2] / t[0]:>8.0f}{t[3] / t[0]:>8.0f}"
    )
    catalogue(ctx, number)


if __name__ == "__main__":
    main()
