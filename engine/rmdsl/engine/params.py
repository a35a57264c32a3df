"""The params in force for the trading day: a loosened limit waits for the reset, always.

A directional param (`stricter: higher|lower`) may be tightened at any moment but
loosened only at the next reset: by a hot reload, and equally by a restart with an
edited file, or a crash. So the values in force are persisted with the day's
counters (AccountStateRecord.params) and, at start, the file is compared with them
by the same `split` a hot reload uses (docs/engine.md, "Loosening waits for the reset").
Only directional params with a numeric value are kept: they are the only ones a
loosening can concern (`looser` cannot order a map or a list).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rmdsl.lang.context import EvalContext
from rmdsl.lang.format import format_value, type_named
from rmdsl.rules.model import Param, Ruleset, Stricter

if TYPE_CHECKING:
    from rmdsl.engine.today import Today

log = logging.getLogger("rmdsl.engine")


def looser(stricter: Stricter, new: object, current: object) -> bool:
    try:
        if stricter is Stricter.HIGHER:
            return bool(new < current)  # type: ignore[operator]
        return bool(new > current)  # type: ignore[operator]
    except TypeError:
        return False


def split(
    new: Ruleset, in_force: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, object]]:
    """(the values to use now, the looser file values that wait for the reset)."""
    fresh: dict[str, object] = {}
    deferred: dict[str, object] = {}
    for name, param in new.params.items():
        current = in_force.get(name)
        if (
            param.stricter is not None
            and current is not None
            and looser(param.stricter, param.value, current)
        ):
            deferred[name] = param.value
            fresh[name] = current
        else:
            fresh[name] = param.value
    return fresh, deferred


def _kept(param: Param) -> bool:
    value = param.value
    numeric = isinstance(value, int | Decimal) and not isinstance(value, bool)
    return param.stricter is not None and numeric


def to_record(
    ruleset: Ruleset,
    in_force: Mapping[str, object],
    deferred: Mapping[str, object],
    reset_at: dt.datetime,
) -> dict[str, Any]:
    """{"in_force": {name: text}, "waiting": {name: {"line": ...}}}: json for the record; the
    line is what `rmdsl status` shows."""
    kept = {n: p for n, p in ruleset.params.items() if _kept(p) and n in in_force}
    out: dict[str, Any] = {"in_force": {n: str(in_force[n]) for n in kept}}
    lines = waiting_lines(ruleset, in_force, deferred, reset_at)
    if lines:
        out["waiting"] = lines
    return out


def from_record(ruleset: Ruleset, saved: Mapping[str, Any]) -> dict[str, object]:
    """The persisted in-force values, read back with the type of the file's param; a param the
    file no longer has, or whose type changed, is dropped (the file's value applies)."""
    texts = saved.get("in_force")
    out: dict[str, object] = {}
    if not isinstance(texts, Mapping):
        return out
    for name, text in texts.items():
        param = ruleset.params.get(name)
        if param is None or not _kept(param) or not isinstance(text, str):
            continue
        try:
            out[name] = Decimal(text) if isinstance(param.value, Decimal) else int(text)
        except (ValueError, InvalidOperation):
            continue
    return out


def waiting_lines(
    ruleset: Ruleset,
    in_force: Mapping[str, object],
    deferred: Mapping[str, object],
    reset_at: dt.datetime,
) -> list[str]:
    """`daily_loss -$1,000.00 from the file waits for the reset at 17:00 CST; -$400.00 is in
    force`, one per loosened param: `rmdsl run` logs them, `rmdsl status` shows them."""
    local = reset_at.astimezone(ruleset.timezone)
    when = f"{local:%H:%M} {local.tzname()}"
    return [
        f"{name} {_shown(param, value)} from the file waits for the reset at {when}; "
        f"{_shown(param, in_force.get(name))} is in force"
        for name, value in deferred.items()
        if (param := ruleset.params.get(name)) is not None
    ]


def _shown(param: Param, value: object) -> str:
    return format_value(value, type_named(param.type_name))


def restore(today: Today, ctx: EvalContext, saved: Mapping[str, Any]) -> bool:
    """At start, today's persisted params in force against the file: a looser file value waits
    for the reset exactly as a hot reload's does (`split`), a tighter one applies at once.
    True when there was something to restore (the caller saves it again at once)."""
    ruleset = today.ruleset
    in_force = from_record(ruleset, saved)
    if not in_force:
        return False
    fresh, deferred = split(ruleset, ruleset.param_values() | in_force)
    ctx.params, today.deferred_params = fresh, deferred
    log_waiting(today, ctx.params)
    return True


def log_waiting(today: Today, in_force: Mapping[str, object]) -> None:
    """`rmdsl run` says which loosened values wait for the reset (after a start or a swap)."""
    lines = waiting_lines(today.ruleset, in_force, today.deferred_params, today.next_reset)
    for line in lines:
        log.warning(line)
