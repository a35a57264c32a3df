"""The compiled ruleset: what load_ruleset returns and the engine runs (no Lark, no ruamel)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from rmdsl.lang.context import EvalContext
from rmdsl.lang.schema import Scope, Trigger, UntilKind
from rmdsl.lang.types import Value
from rmdsl.source import Span
from rmdsl.types import Getter, Predicate, Renderer


class RuleSeverity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Stricter(enum.StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


# reset | session_start | can_trade | a duration in milliseconds
Until = UntilKind | int
# if an expression argument cannot be evaluated (never for a checked program): a safe value
DEFAULT_ARG_FALLBACK: Mapping[str, int] = {"for": 900_000, "until": 900_000}
# The longest lockout, cooldown, pause, block or `for:` (docs/language.md, "Durations"): the
# engine adds it to the clock, and 999999999d is past the year 9999 a datetime can hold.
# `check` refuses a longer literal or param (RM047); an expression argument is clamped to it.
MAX_DURATION_MS = 366 * 86_400_000


@dataclass(frozen=True, slots=True)
class ActionBase:
    """An entry of a rule's `do:` list, checked (rules.stages.CheckedAction) or compiled.

    name is a key of rmdsl.lang.schema.ACTIONS; `cooldown(D)` is normalised to
    `lockout` with until=D. args hold: to/ticks/after -> int, until -> Until.
    """

    name: str
    args: Mapping[str, int | Until] = field(default_factory=dict)
    span: Span | None = field(default=None, compare=False)

    @property
    def until(self) -> Until | None:
        value = self.args.get("until")
        return value if isinstance(value, UntilKind | int) else None


@dataclass(frozen=True, slots=True)
class Action(ActionBase):
    """One action as the engine runs it. An argument written as an expression
    (`reduce_position(to: lookup(...))`) is in `exprs` until the rule fires: `bind(ctx)`
    evaluates it into `args`.
    """

    exprs: Mapping[str, Getter] = field(default_factory=dict, compare=False)
    path: str = field(default="", compare=False)  # the file of the `do:` it was written in

    def bind(self, ctx: EvalContext, errors: list[tuple[str, Exception]] | None = None) -> Action:
        """The action with its expression arguments evaluated now (clamped to their range).

        An argument that fails still gives a safe value (the condition held: the rule acts),
        and the failure goes to `errors` as (argument, exception) for the engine to report
        loudly (docs/engine.md, "When a rule errors").
        """
        if not self.exprs:
            return self
        args = dict(self.args)
        for name, getter in self.exprs.items():
            floor = 0 if name == "to" else 1  # reduce to 0 closes; ticks and durations > 0
            try:
                args[name] = max(_whole(getter(ctx)), floor)
            except Exception as exc:  # reported by the caller: never a silent fallback
                args[name] = floor if name == "to" else DEFAULT_ARG_FALLBACK.get(name, floor)
                if errors is not None:
                    errors.append((name, exc))
            if name in DEFAULT_ARG_FALLBACK:  # a duration: never past what the clock can hold
                args[name] = min(args[name], MAX_DURATION_MS)
        return Action(self.name, args, self.span, path=self.path)


def _whole(value: Value) -> int:
    """An int or duration argument's value (the checker typed it; anything else is a bug)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"an action argument evaluated to {value!r}, not a number")
    return int(value)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a rule (or a field of it) was written: the file and the span of its key."""

    path: str
    span: Span | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    scope: Scope
    when: Predicate
    when_source: str
    triggers: frozenset[Trigger]
    actions: tuple[Action, ...]
    message: Renderer
    severity: RuleSeverity = RuleSeverity.CRITICAL
    enabled: bool = True
    locked: bool = False
    for_ms: int | None = None
    # the names the condition reads, with getters: the "values that made the rule fire"
    inputs: tuple[tuple[str, Getter], ...] = ()
    origin: Origin | None = field(default=None, compare=False)
    when_at: Origin | None = field(default=None, compare=False)  # the condition's own span
    message_at: Origin | None = field(default=None, compare=False)  # the message's, if written


DEFAULT_GRACE_MESSAGE = "position {position.symbol} has no stop loss after the grace period"


@dataclass(frozen=True, slots=True)
class NoStopLossGrace:
    """The mandatory built-in: close a position that has no working stop for `grace_ms`."""

    grace_ms: int = 120_000
    action: str = "close_position"  # or "flatten"
    message: str = DEFAULT_GRACE_MESSAGE
    severity: RuleSeverity = RuleSeverity.CRITICAL
    origin: Origin | None = field(default=None, compare=False)
    # `message` compiled by the template compiler (the loader compiles a ruleset's own)
    render: Renderer = field(default_factory=lambda: _default_render(), compare=False)

    ID = "no_stop_loss_grace"


def _default_render() -> Renderer:
    """The default grace message, compiled once like any message (no params, no source)."""
    global _DEFAULT_RENDER
    if _DEFAULT_RENDER is None:
        from rmdsl.lang.check import CheckEnv
        from rmdsl.lang.format import compile_template

        env = CheckEnv("<no_stop_loss_grace>", Scope.POSITION)
        _DEFAULT_RENDER, _ = compile_template(DEFAULT_GRACE_MESSAGE, env)
    return _DEFAULT_RENDER


_DEFAULT_RENDER: Renderer | None = None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    value: Value  # runtime representation of its type (see rmdsl.lang.types)
    type_name: str
    stricter: Stricter | None = None
    origin: Origin | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SessionHours:
    start: dt.time = dt.time(8, 30)
    end: dt.time = dt.time(15, 10)  # half-open; may be < start (wraps midnight)
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # mon=0


@dataclass(frozen=True, slots=True)
class WeekStart:
    """When the trading week begins, in the ruleset's timezone (key `week_start`)."""

    weekday: int = 6  # mon=0: Sunday
    time: dt.time = dt.time(17, 0)


DEFAULT_TIMEZONE = "America/Chicago"
DEFAULT_RESET = dt.time(17, 0)
# a top-level setting's value (name, description, timezone, reset, session, holidays, ...)
Setting = str | ZoneInfo | dt.time | SessionHours | frozenset[dt.date] | WeekStart
# the calendar a ruleset runs on when it sets none (rules.calendar_locks compares with it)
CALENDAR_DEFAULTS: Mapping[str, Setting] = {
    "timezone": ZoneInfo(DEFAULT_TIMEZONE),
    "reset": DEFAULT_RESET,
    "session": SessionHours(),
    "holidays": frozenset(),
    "week_start": WeekStart(),
}


@dataclass(frozen=True, slots=True)
class Ruleset:
    name: str
    path: str
    description: str
    timezone: ZoneInfo
    reset: dt.time
    session: SessionHours
    holidays: frozenset[dt.date]
    params: Mapping[str, Param]
    rules: tuple[Rule, ...]
    no_stop_loss_grace: NoStopLossGrace
    files: tuple[str, ...]  # this file and every file it extends (absolute), for hot reload
    digest: str  # sha256 over the files' bytes: the ruleset version
    week_start: WeekStart = WeekStart()  # week.* (rmdsl.engine.history)

    def param_values(self) -> dict[str, object]:
        return {name: p.value for name, p in self.params.items()}
