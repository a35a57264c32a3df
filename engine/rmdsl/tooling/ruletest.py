"""Ruleset test files (YAML) -> TestCases of located events and expectations (docs/engine.md).

Shorthand events (`fill`, `position`, `order`, `quote`, `account`, `clock`)
and the recording's own shape (`target` + `data`) are both accepted
(rmdsl.tooling.testevents). Steps (`reload`, `restart`, `disconnect`,
`reconnect`, `fail`, `expect` at a time) sit in the same list:
rmdsl.tooling.teststeps. Anything the runner could not honour (an unknown
kind, a misspelt key) is a located TestFileError.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rmdsl.contract.broker import Snapshot
from rmdsl.contract.events import (
    AccountEvent,
    Event,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    TradeEvent,
)
from rmdsl.engine.state import AccountState
from rmdsl.lang.literals import did_you_mean
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, load_yaml_file
from rmdsl.tooling.testevents import EVENT_KINDS, EventParser, Located, TestFileError, plain
from rmdsl.tooling.teststeps import (
    STEPS,
    Expectation,
    ExpectedAction,
    Step,
    expectation,
    parse_step,
    snapshot_items,
)

DEFAULT_DATE = dt.date(2026, 3, 2)  # a Monday


@dataclass(slots=True)
class TestCase:
    name: str
    line: int
    date: dt.date
    start: dt.datetime
    events: list[Any] = field(default_factory=list)  # Located events and teststeps.Step
    initial: list[Located] = field(default_factory=list)  # the state at start (a snapshot)
    expect: Expectation = field(default_factory=lambda: Expectation(0))
    tz: dt.tzinfo = dt.UTC  # the ruleset's timezone: `at` times are read and shown in it

    @property
    def actions(self) -> list[ExpectedAction] | None:
        return self.expect.actions

    def local_time(self, ts: dt.datetime) -> str:
        """Times as the file writes them: HH:MM:SS(.fff) in the ruleset's timezone on its date."""
        local = ts.astimezone(self.tz)
        text = local.strftime("%H:%M:%S.%f")[:-3].removesuffix(".000")
        return text if local.date() == self.date else f"{local.date()} {text}"


def snapshot_of(initial: list[Located], state: AccountState, start: dt.datetime) -> Snapshot:
    """The `initial:` section as the broker snapshot the engine reconciles with at start."""
    events = [ev for loc in initial for ev in loc.events(state)]
    return Snapshot(
        AccountEvent(1, "test", _balance(state), True, start),
        tuple(e for e in events if isinstance(e, PositionEvent)),
        tuple(e for e in events if isinstance(e, OrderEvent)),
        tuple(e for e in events if isinstance(e, TradeEvent)),
    )


def _balance(state: AccountState) -> Decimal:
    """The broker's balance: what the engine last saw, else $50,000 (a fresh test account)."""
    return state.ctx.account.balance if state.account_model.balance_known else Decimal(50_000)


def initial_quotes(initial: list[Located]) -> list[Event]:
    return [i for loc in initial for i in loc.items if isinstance(i, QuoteEvent)]


@dataclass(frozen=True, slots=True)
class TestFile:
    path: str
    ruleset_path: Path
    cases: tuple[TestCase, ...]


def load_test_file(path: str, tz_of: Any) -> TestFile:
    """Parse a test file. `tz_of(ruleset_path)` gives the ruleset's timezone for `at` times."""
    root, _source = load_yaml_file(path)
    base = Path(path).parent
    rs_node = root.get("ruleset")
    if not isinstance(rs_node, YScalar) or not isinstance(rs_node.value, str):
        raise TestFileError(path, root.span.line, "missing `ruleset:` (a path relative to here)")
    ruleset_path = base / rs_node.value
    parser = EventParser(path, tz_of(ruleset_path))
    tests = root.get("tests")
    if not isinstance(tests, YSeq) or not tests.items:
        raise TestFileError(path, root.span.line, "missing `tests:` (a list of test cases)")
    cases = tuple(_case(parser, node) for node in tests.items)
    return TestFile(path, ruleset_path, cases)


def _case(p: EventParser, node: YNode) -> TestCase:
    if not isinstance(node, YMap):
        raise p.fail(node, "a test case is a mapping with name, events and expect")
    p.check_keys(node, _CASE_KEYS, "unknown key `{}` in a test case")
    name = str(plain(node.get("name")) or f"test at line {node.span.line}")
    date_value = plain(node.get("date"))
    try:
        day = dt.date.fromisoformat(str(date_value)) if date_value else DEFAULT_DATE
    except ValueError:
        raise p.fail(node.get("date") or node, f"bad date {date_value!r}") from None
    initial = node.get("initial")
    events_node = node.get("events")
    if not isinstance(events_node, YSeq):
        raise p.fail(node, "missing `events:` (a list)")
    events = [_item(p, item, day) for item in events_node.items]
    start_node = node.get("start")
    first = _ts(events[0]) if events else dt.datetime.combine(day, dt.time(8), p.tz)
    start = p.time(start_node, plain(start_node), day) if start_node is not None else first
    case = TestCase(name, node.span.line, day, start, events, tz=p.tz)
    if initial is not None:
        case.initial = snapshot_items(p, initial, start, "initial")
    expect = node.get("expect")
    if expect is not None:
        case.expect = expectation(p, expect, day)
    return case


_CASE_KEYS = ("name", "date", "start", "initial", "events", "expect")


def _item(p: EventParser, node: YNode, day: dt.date) -> Located | Step:
    """One entry of `events:`: an event (Located) or a step (teststeps.Step)."""
    if not isinstance(node, YMap) or node.get("at") is None:
        raise p.fail(node, "an event is a mapping with `at` and one kind of event")
    has_target = node.get("target") is not None
    kinds = [k for k in node.entries if k[0].text not in ("at", "data" if has_target else "")]
    if len(kinds) != 1:
        where = kinds[1][0] if len(kinds) > 1 else node
        raise p.fail(where, f"give exactly one of {', '.join(EVENT_KINDS + STEPS)}")
    key, _ = kinds[0]
    if key.text in STEPS:
        return parse_step(p, node, key.text, day)
    if key.text not in EVENT_KINDS:
        suggestion = did_you_mean(key.text, EVENT_KINDS + STEPS) or ""
        raise p.fail(key, f"unknown event kind `{key.text}`: {suggestion}")
    return Located(node.span.line, tuple(p.event(node, day)))


def _ts(item: Any) -> dt.datetime:
    return item.first_ts if isinstance(item, Located) else item.ts
