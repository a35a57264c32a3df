"""A base's locked rules lock the calendar they run on: timezone, reset, session, holidays.

A locked rule cannot be changed by an extending file (RM403), but the top-level
settings decide when it fires and when its lockout lifts: a child's `reset:
"10:00"` would lift a locked daily-loss lockout the same morning. So, for every
file that locks a rule, the settings as that file sees them (its own and its
bases', else the defaults) must survive the merge (docs/extends.md, "The
calendar under locked rules"):

* any locked rule locks `timezone` (RM408) and `reset` (RM409);
* a locked rule that reads `session.*` or locks out `until: session_start` locks
  `session` (RM410) and `holidays` (RM411): no holiday may be dropped, and one may
  be added only when every such rule reads the session so that a closed day
  makes it fire more, never less (`not session.open`, `session.ends_in < X`,
  `session.fills > X`, `until: session_start`);
* a locked rule that reads `week.*` locks `week_start` (RM414);
* and the mandatory no_stop_loss_grace, which cannot be locked itself, only gets
  stricter: a shorter grace, `flatten` kept (RM413).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from rmdsl.lang import ast
from rmdsl.lang.literals import WEEKDAYS, format_duration
from rmdsl.lang.schema import UntilKind
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq
from rmdsl.rules.document import FileDoc
from rmdsl.rules.extends import Merged, MergedRule
from rmdsl.rules.model import NoStopLossGrace, SessionHours, Setting, WeekStart
from rmdsl.rules.stages import CheckedRule
from rmdsl.rules.values import Entry, Report, parse_duration_text

SetAt = tuple[Setting, Entry | None]  # a value and where it was set (None: the default)
CALENDAR_KEYS = ("timezone", "reset", "session", "holidays", "week_start")
_SESSION_START = "until: session_start"
_FLIP = {
    ast.CompareOp.LT: ast.CompareOp.GT,
    ast.CompareOp.LE: ast.CompareOp.GE,
    ast.CompareOp.GT: ast.CompareOp.LT,
    ast.CompareOp.GE: ast.CompareOp.LE,
}
# on an added holiday session.ends_in can only fall (0 when closed) and session.fills only
# grow (they count from an earlier session start): the comparisons that then hold more often
_GAINS = {
    "session.ends_in": (ast.CompareOp.LT, ast.CompareOp.LE),
    "session.fills": (ast.CompareOp.GT, ast.CompareOp.GE),
}


@dataclass(frozen=True, slots=True)
class _Locked:
    """A locked rule, checked, with the ways it reads the session."""

    merged: MergedRule
    rule: CheckedRule
    session_reads: tuple[str, ...]  # "session.open", "until: session_start", ...

    @property
    def where(self) -> str:
        lock = self.merged.locked_by
        assert lock is not None
        return f"the base's locked rule `{self.rule.id}` (locked in {_at(lock)})"


def check_calendar_locks(
    merged: Merged, rules: Sequence[CheckedRule], defaults: Mapping[str, Setting], report: Report
) -> None:
    """Report each calendar setting a file changes under a rule locked by a file before it."""
    by_id = {rule.id: rule for rule in rules}
    lockers: dict[str, list[_Locked]] = {}
    for merged_rule in merged.rules.values():
        rule = by_id.get(merged_rule.id)
        if merged_rule.locked_by is None or rule is None:
            continue  # a rule that did not check has reported its own error
        locked = _Locked(merged_rule, rule, _session_reads(merged_rule, rule))
        lockers.setdefault(merged_rule.locked_by.key.path, []).append(locked)
    final = _settings(merged.docs, None, defaults)
    done: set[str] = set()
    for doc in merged.docs:  # bases first: an error names the deepest base's rule
        if doc.path not in lockers:
            continue
        own = {doc.path, *doc.bases}
        seen = _settings(merged.docs, own, defaults)
        for key in CALENDAR_KEYS:
            if key not in done and _check(key, seen, final[key], lockers[doc.path], report):
                done.add(key)
        if "nslg" not in done and _check_nslg(merged, own, report):
            done.add("nslg")


def _settings(
    docs: Sequence[FileDoc], files: set[str] | None, defaults: Mapping[str, Setting]
) -> dict[str, SetAt]:
    """The calendar settings merged over `files` (None: all) in merge order, else the defaults."""
    out: dict[str, SetAt] = {key: (defaults[key], None) for key in CALENDAR_KEYS}
    for doc in docs:
        if files is None or doc.path in files:
            out.update((k, v) for k, v in doc.settings.items() if k in CALENDAR_KEYS)
    return out


def _check(
    key: str, seen: dict[str, SetAt], final: SetAt, locked: list[_Locked], report: Report
) -> bool:
    (old, old_entry), (new, entry) = seen[key], final
    if entry is None or _shown(old) == _shown(new):
        return False
    if key in ("timezone", "reset"):
        _moved(key, seen, new, entry, locked, report)
        return True
    if key == "week_start":
        return _week_moved(new, old_entry, entry, locked, report)
    readers = [lk for lk in locked if lk.session_reads]
    if not readers:
        return False
    if key == "session":
        lk, node = readers[0], entry.value
        report.error(
            "RM410",
            node,
            node.path,
            f"session {_shown(new)} changes the hours of a locked rule: {lk.where} "
            f"{_reads(lk)}; its session is {_shown(old)} ({_set_at(old_entry)}); "
            "a child may not change it",
            "remove `session` from this file: even a narrower session is not stricter "
            "for every rule (docs/extends.md)",
        )
        return True
    assert isinstance(old, frozenset) and isinstance(new, frozenset)
    return _holidays(old, old_entry, new, entry, readers, report)


def _moved(
    key: str,
    seen: dict[str, SetAt],
    new: Setting,
    entry: Entry,
    locked: list[_Locked],
    report: Report,
) -> None:
    lk, node = _reset_reader(locked), entry.value
    reset = _shown(seen["reset"][0])
    if key == "timezone":
        what, moved = f"timezone `{_shown(new)}`", "clock"
        reset += f" {_shown(seen['timezone'][0])}"
    else:
        what, moved = f"reset {_shown(new)}", "trading day"
    report.error(
        "RM408" if key == "timezone" else "RM409",
        node,
        node.path,
        f"{what} moves the {moved} under a locked rule: {lk.where} {_reset_reason(lk)} "
        f"{reset} ({_set_at(seen[key][1])}); a child may not move it",
        f"remove `{key}` from this file: a base's locked rules keep the base's {key}",
    )


def _week_moved(
    new: Setting, old_entry: Entry | None, entry: Entry, locked: list[_Locked], report: Report
) -> bool:
    """RM414: a locked rule on `week.*` keeps the week its file saw."""
    readers = [lk for lk in locked if any(n.startswith("week.") for n, _ in lk.rule.inputs)]
    if not readers:
        return False
    node = entry.value
    report.error(
        "RM414",
        node,
        node.path,
        f"week_start {_shown(new)} moves the week under a locked rule: {readers[0].where} "
        f"reads `week.*` ({_set_at(old_entry)}); a child may not move it",
        "remove `week_start` from this file: a base's locked rules keep the base's week",
    )
    return True


def _holidays(
    old: frozenset[dt.date],
    old_entry: Entry | None,
    new: frozenset[dt.date],
    entry: Entry,
    readers: list[_Locked],
    report: Report,
) -> bool:
    node = entry.value
    dropped, added = sorted(map(str, old - new)), sorted(map(str, new - old))
    if dropped:
        lk = readers[0]
        report.error(
            "RM411",
            node,
            node.path,
            f"holidays drop {', '.join(dropped)} of the base ({_set_at(old_entry)}): "
            f"{lk.where} {_reads(lk)}, and a holiday closes its session; "
            "a child may only add holidays",
            "a child's `holidays` replace the base's: repeat the base's dates, then add yours",
        )
        return True
    loose = next(((lk, why) for lk in readers if (why := _loosened_by_holiday(lk))), None)
    if not added or loose is None:
        return False
    lk, why = loose
    report.error(
        "RM411",
        node,
        node.path,
        f"holiday {', '.join(added)} would loosen a locked rule: {lk.where} fires on "
        f"`{why}`, so a day without a session makes it fire less; a child may not add "
        "holidays under it",
        "ask the base's owner to add the holiday to the base",
    )
    return True


def _check_nslg(merged: Merged, own: set[str], report: Report) -> bool:
    """Under a base with locked rules, no_stop_loss_grace only gets stricter: a grace no longer
    than the base's, `flatten` kept (RM413). Its message and severity stay free."""
    seen: dict[str, Entry] = {}
    for doc in merged.docs:
        rule = doc.rules.get(NoStopLossGrace.ID)
        if doc.path in own and rule is not None:
            seen.update(rule.fields)
    default = NoStopLossGrace()
    old_ms, new_ms = _grace(seen, default.grace_ms), _grace(merged.nslg, default.grace_ms)
    entry = merged.nslg.get("grace")
    if new_ms > old_ms and entry is not None:
        node, base = entry.value, seen.get("grace")
        report.error(
            "RM413",
            node,
            node.path,
            f"`grace` {format_duration(new_ms)} of no_stop_loss_grace is longer than the base's "
            f"{format_duration(old_ms)} ({_set_at(base)}); under a base with locked rules "
            "it may only get shorter",
            f"use a grace <= {format_duration(old_ms)}, or leave it to the base",
        )
        return True
    old_action, entry = _text(seen.get("action"), default.action), merged.nslg.get("action")
    if old_action == "flatten" and entry is not None and _text(entry, "flatten") != "flatten":
        node = entry.value
        report.error(
            "RM413",
            node,
            node.path,
            f"no_stop_loss_grace `action: {_text(entry, '')}` is weaker than the base's flatten "
            f"({_set_at(seen.get('action'))}); under a base with locked rules it may only get "
            "stricter",
            "remove `action` here: the base flattens",
        )
        return True
    return False


def _grace(fields: Mapping[str, Entry], default: int) -> int:
    entry = fields.get("grace")
    text = entry.value.text if entry is not None and isinstance(entry.value, YScalar) else ""
    return parse_duration_text(text) or default


def _text(entry: Entry | None, default: str) -> str:
    return entry.value.text if entry is not None and isinstance(entry.value, YScalar) else default


def _session_reads(merged: MergedRule, rule: CheckedRule) -> tuple[str, ...]:
    reads = [name for name, _ in rule.inputs if name.startswith("session.")]
    if any(action.until is UntilKind.SESSION_START for action in rule.actions):
        reads.append(_SESSION_START)
    do = merged.fields.get("do")
    if do is not None and any("session." in text for text in _texts(do.value)):
        reads.append("session.* in `do`")  # an expression argument reads the session
    return tuple(dict.fromkeys(reads))


def _texts(node: YNode) -> Iterator[str]:
    if isinstance(node, YScalar):
        yield node.text
    elif isinstance(node, YSeq):
        for item in node.items:
            yield from _texts(item)
    elif isinstance(node, YMap):
        for key, value in node.entries:
            yield key.text
            yield from _texts(value)


def _loosened_by_holiday(lk: _Locked) -> str | None:
    """The session read of a locked rule that fires less on a closed day, or None (all safe)."""
    unsafe = [r for r in lk.session_reads if r.endswith("`do`")]
    if unsafe:
        return unsafe[0]
    if not any(r.startswith("session.") for r in lk.session_reads):
        return None  # only `until: session_start`: a holiday makes the lockout last longer
    return _loosening(lk.rule.when.expr, positive=True)


def _loosening(node: ast.Expr, *, positive: bool) -> str | None:
    """The first session read in `node` that can turn false (when positive) on a closed day."""
    if isinstance(node, ast.Unary) and node.op is ast.UnaryOp.NOT:
        return _loosening(node.operand, positive=not positive)
    if isinstance(node, ast.Binary) and node.op in (ast.BinaryOp.AND, ast.BinaryOp.OR):
        return _loosening(node.left, positive=positive) or _loosening(node.right, positive=positive)
    if isinstance(node, ast.Name) and node.path == "session.open":
        return "session.open" if positive else None  # `not session.open` holds more often
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        verdict = _compare_gains(node)
        if verdict is not None:
            name, gains = verdict
            return None if gains == positive else name
    reads = (n.path for n in node.walk() if isinstance(n, ast.Name))
    return next((path for path in reads if path.startswith("session.")), None)


def _compare_gains(node: ast.Compare) -> tuple[str, bool] | None:
    """(name, holds more often on a closed day) for `session.x OP e` or `e OP session.x`."""
    left, right = node.operands
    op = node.ops[0]
    if isinstance(right, ast.Name) and right.path in _GAINS and op in _FLIP:
        left, right, op = right, left, _FLIP[op]
    if not (isinstance(left, ast.Name) and left.path in _GAINS and op in _FLIP):
        return None
    if any(isinstance(n, ast.Name) and n.path.startswith("session.") for n in right.walk()):
        return None
    return left.path, op in _GAINS[left.path]


def _reset_reader(locked: list[_Locked]) -> _Locked:
    """The locked rule that best shows why the reset matters: a reset lockout, then day.*."""

    def rank(lk: _Locked) -> int:
        if any(a.until is UntilKind.RESET for a in lk.rule.actions):
            return 0
        return 1 if any(name.startswith("day.") for name, _ in lk.rule.inputs) else 2

    return min(locked, key=rank)


def _reset_reason(lk: _Locked) -> str:
    if any(a.until is UntilKind.RESET for a in lk.rule.actions):
        return "lifts at its reset"
    if any(name.startswith("day.") for name, _ in lk.rule.inputs):
        return "counts `day.*` from its reset"
    return "runs on the trading day that ends at its reset"


def _reads(lk: _Locked) -> str:
    reads = [r for r in lk.session_reads if r != _SESSION_START]
    parts = [f"reads {', '.join(f'`{r}`' for r in reads)}"] if reads else []
    if _SESSION_START in lk.session_reads:
        parts.append("locks out until session_start")
    return " and ".join(parts)


def _shown(value: object) -> str:
    if isinstance(value, SessionHours):
        days = ", ".join(WEEKDAYS[d] for d in sorted(value.days))
        return f"{value.start:%H:%M}..{value.end:%H:%M} [{days}]"
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(map(str, value))) + "]"
    if isinstance(value, WeekStart):
        return f"{WEEKDAYS[value.weekday]} {value.time:%H:%M}"
    key = getattr(value, "key", None)  # a ZoneInfo
    if isinstance(key, str):
        return key
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    return str(value)


def _at(entry: Entry) -> str:
    return f"{entry.key.path}:{entry.key.span.line}"


def _set_at(entry: Entry | None) -> str:
    return _at(entry) if entry is not None else "the default"
