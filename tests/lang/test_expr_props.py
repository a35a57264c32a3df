"""Property tests: any grammar sentence parses or fails cleanly; print -> parse round-trips;
generated code agrees with the reference interpreter on well-typed expressions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from lark import Lark
from larkgen import BoundedLark
from reference import Reference

from rmdsl.errors import ParseError
from rmdsl.lang.check import CheckEnv, check_expression
from rmdsl.lang.codegen import compile_expression, compile_predicate
from rmdsl.lang.context import EvalContext, PositionView
from rmdsl.lang.format import compile_template, format_value
from rmdsl.lang.parser import grammar_text, parse_expression
from rmdsl.lang.printer import print_expression
from rmdsl.lang.schema import NAMES, Scope
from rmdsl.lang.types import BOOL, DURATION, INT, MONEY, NUMBER, STRING, TIME, list_of, map_of
from rmdsl.rules.actions import ActionReader
from rmdsl.rules.compile import compile_action
from rmdsl.rules.values import Report
from rmdsl.source import SourceFile

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
GRAMMAR = Lark(grammar_text(), parser="lalr", lexer="contextual")
_WHITESPACE = "[ \t\r\n]+"
# The ignored whitespace is drawn between most tokens: as st.text of the same four characters
# it is the same strings at a fraction of st.from_regex's cost (which made this file slow).
_EXPLICIT = {
    "NAME": st.from_regex(r"[a-z_][a-z0-9_]{0,6}(\.[a-z_][a-z0-9_]{0,6})?", fullmatch=True),
    **{
        t.name: st.text(st.sampled_from(" \t\r\n"), min_size=1)
        for t in GRAMMAR.terminals
        if t.name in GRAMMAR.ignore_tokens and t.pattern.value == _WHITESPACE
    },
}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(BoundedLark(GRAMMAR, "start", _EXPLICIT))
def test_generated_sentences_parse_or_fail_located(text: str) -> None:
    try:
        expr = parse_expression(text, path="g.yaml")
    except ParseError as err:
        assert all(d.span is not None for d in err.diagnostics)
        return
    assert parse_expression(print_expression(expr), path="g.yaml") == expr


@SETTINGS
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_expression(text, path="g.yaml")
    except ParseError as err:
        assert err.diagnostics


# --- a type-directed generator of well-typed source -------------------------------------

SCOPE = Scope.POSITION
PARAMS = {
    "loss": (MONEY, Decimal("-400")),
    "n": (INT, 3),
    "limits": (map_of(INT), MappingProxyType({"MNQ": 2, "ES": 1})),
    "caps": (map_of(MONEY), MappingProxyType({"MES": Decimal("-250")})),
    "blocked": (list_of(STRING), ("M*", "es")),
}
KEYS = ["MNQ", "ES", "MES", "MES", "ES", "mes", "M*"]
GLOBS = ["M*", "es", "*Q", "[!N]*", "E?", "m[en]*", ""]


def _names(typ: object) -> list[str]:
    found = [n for n, s in NAMES.items() if s.type == typ and s.scope in (None, SCOPE)]
    return found + [f"params.{p}" for p, (t, _) in PARAMS.items() if t == typ]


LEAVES = {
    BOOL: st.sampled_from(["true", "false", *_names(BOOL)]),
    INT: st.one_of(st.integers(0, 20).map(str), st.sampled_from(_names(INT))),
    NUMBER: st.one_of(st.decimals("0", "50", places=2).map(str), st.sampled_from(_names(NUMBER))),
    MONEY: st.one_of(
        st.decimals("-500", "500", places=2).map(lambda d: f"-${-d}" if d < 0 else f"${d}"),
        st.sampled_from(_names(MONEY)),
    ),
    DURATION: st.sampled_from(["0s", "500ms", "30s", "2m", "1h30m", "position.age"]),
    TIME: st.sampled_from(["08:30", "17:00", "00:00", "15:10:30", "now.time"]),
    STRING: st.sampled_from(['"MNQ"', '"es"', '"M*"', '"*"', "position.symbol", "position.side"]),
}
ORDERED = [INT, NUMBER, MONEY, DURATION, TIME]


def expr_of(typ: object, depth: int) -> st.SearchStrategy[str]:
    leaf = LEAVES[typ]  # type: ignore[index]
    if depth <= 0:
        return leaf
    sub = lambda t: expr_of(t, depth - 1)  # noqa: E731
    options = [
        leaf,
        st.tuples(sub(typ), sub(BOOL), sub(typ)).map(lambda a: f"({a[0]} if {a[1]} else {a[2]})"),
    ]
    if typ == BOOL:
        options += [
            st.tuples(sub(BOOL), st.sampled_from(["and", "or"]), sub(BOOL)).map(" ".join).map(_p),
            sub(BOOL).map(lambda a: f"(not {a})"),
            st.sampled_from(ORDERED).flatmap(_comparison),
            st.tuples(sub(STRING), sub(STRING)).map(lambda a: f"({a[0]} matches {a[1]})"),
            st.tuples(sub(TIME), sub(TIME), sub(TIME), st.booleans()).map(_time_range),
            st.tuples(sub(INT), st.lists(sub(INT), max_size=3)).map(
                lambda a: f"({a[0]} in [{', '.join(a[1])}])"
            ),
            *_collections(sub),
        ]
    elif typ in (INT, NUMBER, MONEY, DURATION):
        options += _arith(typ, sub)
    if typ in (INT, NUMBER, MONEY):  # map<int> with a number default gives a number
        table = "params.caps" if typ == MONEY else "params.limits"
        options.append(
            st.tuples(sub(STRING), sub(typ)).map(lambda a: f"lookup({table}, {a[0]}, {a[1]})")
        )
    return st.one_of(options)


def _collections(sub: object) -> list[st.SearchStrategy[str]]:
    """Map membership, globs against a list (param, literal or built per call), string lists."""
    s = sub  # type: ignore[assignment]
    neg = st.sampled_from(["in", "not in"])
    globs = st.lists(st.sampled_from(GLOBS).map(lambda g: f'"{g}"') | s(STRING), max_size=3)  # type: ignore[operator]
    return [
        st.tuples(s(STRING), neg).map(lambda a: f"({a[0]} {a[1]} params.limits)"),  # type: ignore[operator]
        s(STRING).map(lambda a: f"({a} matches params.blocked)"),  # type: ignore[operator]
        st.tuples(s(STRING), globs).map(lambda a: f"({a[0]} matches [{', '.join(a[1])}])"),  # type: ignore[operator]
        st.tuples(s(STRING), neg, st.lists(s(STRING), max_size=3)).map(  # type: ignore[operator]
            lambda a: f"({a[0]} {a[1]} [{', '.join(a[2])}])"
        ),
    ]


def _p(text: str) -> str:
    return f"({text})"


def _comparison(typ: object) -> st.SearchStrategy[str]:
    ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
    operand = expr_of(typ, 1)
    return st.tuples(operand, ops, operand, ops, operand, st.booleans()).map(
        lambda a: f"({a[0]} {a[1]} {a[2]})" if a[5] else f"({a[0]} {a[1]} {a[2]} {a[3]} {a[4]})"
    )


def _time_range(a: tuple[str, str, str, bool]) -> str:
    return f"({a[0]} {'not in' if a[3] else 'in'} {a[1]}..{a[2]})"


def _arith(typ: object, sub: object) -> list[st.SearchStrategy[str]]:
    s = sub  # type: ignore[assignment]
    bin_ = lambda a, op, b: st.tuples(a, st.just(op), b).map(" ".join).map(_p)  # noqa: E731
    out = [
        bin_(s(typ), "+", s(typ)),  # type: ignore[operator]
        bin_(s(typ), "-", s(typ)),  # type: ignore[operator]
        s(typ).map(lambda a: f"(-{a})"),  # type: ignore[operator]
        st.tuples(s(typ), s(typ)).map(lambda a: f"max({a[0]}, {a[1]})"),  # type: ignore[operator]
        s(typ).map(lambda a: f"abs({a})"),  # type: ignore[operator]
    ]
    if typ in (INT, NUMBER):
        out += [bin_(s(typ), "*", s(INT)), bin_(s(typ), "%", s(INT))]  # type: ignore[operator]
    if typ == NUMBER:
        out += [
            bin_(s(INT), "/", s(INT)),  # type: ignore[operator]
            bin_(s(MONEY), "/", s(MONEY)),  # type: ignore[operator]
            st.tuples(s(MONEY), s(STRING)).map(lambda a: f"ticks({a[0]}, {a[1]})"),  # type: ignore[operator]
        ]
    if typ == INT:
        out += [s(NUMBER).map(lambda a: f"round({a})"), s(NUMBER).map(lambda a: f"floor({a})")]  # type: ignore[operator]
        out += [st.just("fills(1h)"), st.just("contracts(position.symbol)")]
    if typ in (MONEY, DURATION):
        out += [
            bin_(s(typ), "*", s(NUMBER)),  # type: ignore[operator]
            bin_(s(typ), "/", s(INT)),  # type: ignore[operator]
            bin_(s(typ), "%", s(typ)),  # type: ignore[operator]
        ]
    if typ == MONEY:
        out += [s(MONEY).map(lambda a: f"round({a})"), s(MONEY).map(lambda a: f"ceil({a})")]  # type: ignore[operator]
    return out


class Funcs:
    def __init__(self, n: int, money: Decimal) -> None:
        self.n, self.money = n, money

    def contracts(self, symbol: str) -> int:
        return self.n + len(symbol)

    def fills(self, window_ms: int) -> int:
        return self.n

    def trades(self, window_ms: int) -> int:
        return self.n

    def losses(self, window_ms: int) -> int:
        return self.n

    def pnl(self, window_ms: int) -> Decimal:
        return self.money

    def tick_value(self, symbol: str) -> Decimal:
        return Decimal(0) if symbol.startswith("M") else self.money

    def tick_size(self, symbol: str) -> Decimal:
        return Decimal("0.25")


money = st.decimals("-2000", "2000", places=2)


@st.composite
def contexts(draw: st.DrawFn) -> EvalContext:
    # upper-case keys mostly, as rulesets write symbol roots: lookup("mes") finds "MES"
    limits = draw(st.dictionaries(st.sampled_from(KEYS), st.integers(0, 5), min_size=1, max_size=3))
    caps = draw(st.dictionaries(st.sampled_from(KEYS), money, min_size=1, max_size=2))
    ctx = EvalContext(
        params={
            "loss": draw(money),
            "n": draw(st.integers(-3, 9)),
            "limits": MappingProxyType(limits),
            "caps": MappingProxyType(caps),
            "blocked": tuple(draw(st.lists(st.sampled_from(GLOBS), max_size=3))),
        }
    )
    ctx.funcs = Funcs(draw(st.integers(0, 5)), draw(money))
    ctx.day.realized_pnl, ctx.day.pnl, ctx.day.drawdown = draw(money), draw(money), draw(money)
    ctx.day.trades, ctx.day.losses = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    ctx.positions.contracts = draw(st.integers(0, 9))
    ctx.position = PositionView(
        symbol=draw(st.sampled_from(["MNQ", "ES", "mes", "es", "E6", "m*"])),
        size=draw(st.integers(0, 5)),
        avg_price=draw(st.decimals("0", "20000", places=2)),
        unrealized_pnl=draw(money),
        age=draw(st.integers(0, 10_000_000)),
        has_stop=draw(st.booleans()),
    )
    ctx.session.open = draw(st.booleans())
    ctx.now.set(
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC) + dt.timedelta(minutes=draw(st.integers(0, 1439)))
    )
    return ctx


@SETTINGS
@given(
    st.sampled_from([BOOL, INT, NUMBER, MONEY, DURATION]).flatmap(lambda t: expr_of(t, 2)),
    contexts(),
)
def test_compiled_matches_reference(text: str, ctx: EvalContext) -> None:
    expr = parse_expression(text, path="g.yaml")
    checked = check_expression(expr, CheckEnv("g.yaml", SCOPE, PARAMS))
    assert checked.ok, (text, checked.errors)
    expected = Reference(checked).run(ctx)
    assert compile_expression(checked)(ctx) == expected, text
    if checked.type == BOOL:
        assert compile_predicate(checked)(ctx) is expected
    assert parse_expression(print_expression(expr), path="g.yaml") == expr


def _table(typ: object) -> str:
    return "lookup(params.caps" if typ == MONEY else "lookup(params.limits"


def _focused(typ: object, depth: int) -> st.SearchStrategy[str]:
    """Booleans over maps, lookups and list globs, nested: the generated-code shapes."""
    sub = lambda t: expr_of(t, 1)  # noqa: E731
    keys = st.sampled_from(["position.symbol", '"mes"', '"es"', '"MNQ"']) | sub(STRING)
    lookups = st.sampled_from([INT, NUMBER, MONEY]).flatmap(
        lambda t: st.tuples(
            keys,
            st.sampled_from(["<", ">=", "=="]),
            expr_of(t, 0),
            expr_of(t, 0),
        ).map(lambda a: f"({a[3]} {a[1]} {_table(t)}, {a[0]}, {a[2]}))")
    )
    # found or not: the default (7, -$9999) lies outside every drawn map value
    probes = st.tuples(keys, st.sampled_from(["limits, {}, 7) < 6", "caps, {}, -$9999) > -$5000"]))
    found = probes.map(lambda a: "(lookup(params." + a[1].format(a[0]) + ")")
    leaf = st.one_of(lookups, found, st.one_of(*_collections(sub)))
    if depth <= 0:
        return leaf
    inner = _focused(typ, depth - 1)
    return st.one_of(
        leaf,
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join).map(_p),
        inner.map(lambda a: f"(not {a})"),
        st.tuples(inner, inner, inner).map(lambda a: f"({a[0]} if {a[1]} else {a[2]})"),
    )


@SETTINGS
@given(_focused(BOOL, 1), contexts())
def test_collection_shapes_match_reference(text: str, ctx: EvalContext) -> None:
    test_compiled_matches_reference.hypothesis.inner_test(text, ctx)  # type: ignore[attr-defined]


# --- messages and action arguments: the same back end, the same oracle -------------------

HOLE_TYPES = st.sampled_from([BOOL, INT, NUMBER, MONEY, DURATION, TIME, STRING])
TEXT = st.sampled_from(["", "lost ", " at ", ": ", "{{", "}} now", "é "])


@SETTINGS
@given(
    st.lists(st.tuples(TEXT, HOLE_TYPES.flatmap(lambda t: expr_of(t, 1))), max_size=3),
    TEXT,
    contexts(),
)
def test_messages_match_reference(holes: list[tuple[str, str]], tail: str, ctx: Any) -> None:
    """Every hole shown as format_value shows the interpreter's value; `{{` is a brace."""
    template = "".join(f"{text}{{{source}}}" for text, source in holes) + tail
    env = CheckEnv("g.yaml", SCOPE, PARAMS)
    render, diags = compile_template(template, env)
    assert not [d for d in diags if d.is_error], (template, diags)
    expected = []
    for text, source in holes:
        checked = check_expression(parse_expression(source, path="g.yaml"), env)
        shown = format_value(Reference(checked).run(ctx), checked.type)
        expected += [_unescape(text), shown]
    assert render(ctx) == "".join(expected) + _unescape(tail), template


def _unescape(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


ARGS = st.sampled_from([("reduce_position", "to", INT), ("lockout", "until", DURATION)])


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(ARGS.flatmap(lambda a: st.tuples(st.just(a), expr_of(a[2], 2))), contexts())
def test_action_arguments_match_reference(arg: tuple[tuple[str, str, Any], str], ctx: Any) -> None:
    (action, name, typ), source = arg
    report = Report()
    item = f"{action}({name}: ({source}))"
    reader = ActionReader(SourceFile("g.yaml", item), CheckEnv("g.yaml", SCOPE, PARAMS), report)
    checked_action = reader.read(item, 0)
    read = compile_action(checked_action) if checked_action is not None else None
    if read is None:  # a literal the argument refuses (`0s`): said when the file is checked
        assert [d.code for d in report.diagnostics] == ["RM044"], (source, report.diagnostics)
        return
    env = CheckEnv("g.yaml", SCOPE, PARAMS, expected=typ)
    checked = check_expression(parse_expression(f"({source})", path="g.yaml"), env)
    # a literal is read as the value itself; anything else is generated code run per firing
    value = read.exprs[name](ctx) if name in read.exprs else read.args[name]
    assert value == Reference(checked).run(ctx), source
