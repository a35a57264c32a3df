"""One ruleset file's YMap -> FileDoc: keys checked, settings typed, rules and params as nodes.

Rule fields stay YAML nodes here because extends merges them field by field
before they are compiled; every node keeps its file and span for diagnostics.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rmdsl.lang.literals import WEEKDAYS, did_you_mean
from rmdsl.lang.literals import read_time as parse_time_text
from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, kind_of
from rmdsl.rules.model import NoStopLossGrace, SessionHours, Setting, Stricter, WeekStart
from rmdsl.rules.values import (
    Entry,
    Report,
    as_list,
    check_keys,
    read_date,
    read_string,
    read_time,
    read_weekday,
)

FORMAT_VERSION = 1
# At most this many rules and params in a ruleset with the files it extends: checking costs
# ~1.5 ms a rule (docs/performance.md, "Input limits"), so time stays within a few seconds.
MAX_RULES = 1000
MAX_PARAMS = 1000
TOP_KEYS = (
    "rmdsl", "name", "description", "extends", "timezone", "reset", "session", "holidays",
    "week_start", "params", "rules",
)  # fmt: skip
RULE_KEYS = ("scope", "when", "for", "on", "do", "message", "severity", "enabled", "locked")
SESSION_KEYS = ("hours", "days")
PARAM_KEYS = ("value", "stricter")
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class RuleDoc:
    id: str
    key: YScalar
    fields: dict[str, Entry]


@dataclass(frozen=True, slots=True)
class ParamDoc:
    name: str
    key: YScalar
    value: YNode
    stricter: Stricter | None = None
    stricter_entry: Entry | None = None


@dataclass(slots=True)
class FileDoc:
    """A file after its own checks; `settings` hold typed top-level values with their entry."""

    path: str  # as shown in diagnostics
    root: YMap
    settings: dict[str, tuple[Setting, Entry]] = field(default_factory=dict)
    extends: tuple[YScalar, ...] = ()
    params: dict[str, ParamDoc] = field(default_factory=dict)
    rules: dict[str, RuleDoc] = field(default_factory=dict)
    bases: frozenset[str] = frozenset()  # display paths of every file it extends (load_chain)


def parse_file_doc(root: YMap, path: str, report: Report) -> FileDoc:
    doc = FileDoc(path, root)
    check_keys(root, TOP_KEYS, "the ruleset", report)
    _check_version(root, path, report)
    for key, value in root.entries:
        entry = Entry(key, value)
        reader = _SETTINGS.get(key.text)
        if reader is not None:
            parsed = reader(value, report)
            if parsed is not None:
                doc.settings[key.text] = (parsed, entry)
    if root.get("name") is None:
        report.error_at(
            "RM021", None, path, "the ruleset has no `name`", "add a line like `name: topstep-50k`"
        )
    doc.extends = _read_extends(root.get("extends"), report)
    doc.params = _read_params(root.get("params"), report)
    doc.rules = _read_rules(root.get("rules"), report)
    return doc


def _check_version(root: YMap, path: str, report: Report) -> None:
    node = root.get("rmdsl")
    if node is None:
        report.error_at(
            "RM021",
            None,
            path,
            "the ruleset has no `rmdsl` format version",
            "add `rmdsl: 1` as the first line",
        )
    elif not (
        isinstance(node, YScalar)
        and node.value == FORMAT_VERSION
        and not isinstance(node.value, bool)
    ):
        shown = node.raw if isinstance(node, YScalar) else kind_of(node)
        report.error(
            "RM022",
            node,
            node.path,
            f"unsupported format version `{shown}`",
            f"this rmdsl reads format version {FORMAT_VERSION}: write `rmdsl: 1`",
        )


def _read_name(node: YNode, report: Report) -> str | None:
    return read_string(node, "`name`", report)


def _read_description(node: YNode, report: Report) -> str | None:
    return read_string(node, "`description`", report)


def _read_timezone(node: YNode, report: Report) -> ZoneInfo | None:
    name = read_string(node, "`timezone`", report)
    if name is None:
        return None
    try:
        if name and not name.startswith(("/", ".")) and ".." not in name:
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = "use an IANA zone name such as America/Chicago or America/New_York"
    report.error("RM024", node, node.path, f"unknown timezone `{name}`", hint)
    return None


def _read_reset(node: YNode, report: Report) -> dt.time | None:
    return read_time(node, "`reset`", report)


def _read_week_start(node: YNode, report: Report) -> WeekStart | None:
    """`week_start: "sun 17:00"`: a weekday and a time of day in the ruleset's timezone."""
    words = node.text.split() if isinstance(node, YScalar) else []
    day = words[0].lower() if len(words) == 2 else ""
    time = parse_time_text(words[1]) if len(words) == 2 else None
    if day not in WEEKDAYS or time is None:
        report.error(
            "RM025",
            node,
            node.path,
            "`week_start` must be a weekday and a time of day",
            'write it as "sun 17:00" (the trading week\'s first reset, in the timezone)',
        )
        return None
    return WeekStart(WEEKDAYS.index(day), time)


def _read_session(node: YNode, report: Report) -> SessionHours | None:
    if not isinstance(node, YMap):
        report.error(
            "RM023",
            node,
            node.path,
            f"`session` must be a mapping, not {kind_of(node)}",
            'write it as {hours: "08:30..15:10", days: [mon, tue, wed, thu, fri]}',
        )
        return None
    check_keys(node, SESSION_KEYS, "`session`", report)
    default = SessionHours()
    start, end = default.start, default.end
    hours = node.get("hours")
    if hours is not None:
        parsed = _read_hours(hours, report)
        if parsed is None:
            return None
        start, end = parsed
    days = default.days
    days_node = node.get("days")
    if days_node is not None:
        found = [read_weekday(d, report) for d in as_list(days_node)]
        if any(d is None for d in found):
            return None
        days = frozenset(d for d in found if d is not None)
    return SessionHours(start, end, days)


def _read_hours(node: YNode, report: Report) -> tuple[dt.time, dt.time] | None:
    text = node.text if isinstance(node, YScalar) else ""
    start_text, sep, end_text = text.partition("..")
    start, end = parse_time_text(start_text), parse_time_text(end_text)
    if not sep or start is None or end is None or start == end:
        report.error(
            "RM026",
            node,
            node.path,
            "`session.hours` must be a range of times",
            'write it as "08:30..15:10" (start..end, end excluded; may wrap midnight)',
        )
        return None
    return start, end


def _read_holidays(node: YNode, report: Report) -> frozenset[dt.date] | None:
    if not isinstance(node, YSeq):
        report.error(
            "RM023",
            node,
            node.path,
            f"`holidays` must be a list, not {kind_of(node)}",
            "write it as [2026-12-25, 2027-01-01]",
        )
        return None
    dates = [read_date(item, report) for item in node.items]
    return frozenset(d for d in dates if d is not None)


_SETTINGS = {
    "name": _read_name,
    "description": _read_description,
    "timezone": _read_timezone,
    "reset": _read_reset,
    "session": _read_session,
    "holidays": _read_holidays,
    "week_start": _read_week_start,
}


def _read_extends(node: YNode | None, report: Report) -> tuple[YScalar, ...]:
    if node is None:
        return ()
    items = as_list(node)
    good = tuple(i for i in items if isinstance(i, YScalar) and isinstance(i.value, str) and i.text)
    if len(good) != len(items):
        report.error(
            "RM402",
            node,
            node.path,
            "`extends` must be a file path or a list of paths",
            "write `extends: base/topstep.yaml` (relative to this file)",
        )
    return good


# params and rules: (code of a bad name, what a name is, hint when not a mapping)
_NAMED = {
    "params": ("RM050", "param name", None),
    "rules": (
        "RM030",
        "rule id",
        "rules are keyed by id: `rules: {daily_loss: {when: ..., do: [...]}}`",
    ),
}


def _named_entries(node: YNode | None, section: str, report: Report) -> list[tuple[YScalar, YNode]]:
    """The entries of `params:` or `rules:` whose key is a valid name (the others reported)."""
    if node is None:
        return []
    code, what, hint = _NAMED[section]
    if not isinstance(node, YMap):
        message = f"`{section}` must be a mapping, not {kind_of(node)}"
        report.error("RM023", node, node.path, message, hint)
        return []
    good = []
    for key, value in node.entries:
        if RULE_ID.match(key.text):
            good.append((key, value))
            continue
        hint = f"{what}s are lowercase letters, digits and _, starting with a letter"
        report.error(code, key, key.path, f"invalid {what} `{key.text}`", hint)
    return good


def _read_params(node: YNode | None, report: Report) -> dict[str, ParamDoc]:
    params: dict[str, ParamDoc] = {}
    for key, value in _named_entries(node, "params", report):
        param = _read_param(key, value, report)
        if param is not None:
            params[key.text] = param
    return params


def _read_param(key: YScalar, value: YNode, report: Report) -> ParamDoc | None:
    if not isinstance(value, YMap):
        return ParamDoc(key.text, key, value)
    if value.entries and not any(k.text in PARAM_KEYS for k, _ in value.entries):
        # `per_symbol: {MNQ: 2}`: a map written without `value:`, one error (not one a key);
        # typed as the map it holds so the rules that read it are checked as usual
        shown = ", ".join(
            f"{k.text}: {v.text if isinstance(v, YScalar) else '...'}" for k, v in value.entries
        )
        report.error(
            "RM054",
            key,
            key.path,
            f"param `{key.text}` has no `value`: a map param holds its map under `value:`",
            f"write it as {key.text}: {{value: {{{shown}}}}}",
        )
        return ParamDoc(key.text, key, value)
    check_keys(value, PARAM_KEYS, f"param `{key.text}`", report)
    literal = value.get("value")
    if literal is None:
        report.error(
            "RM054",
            key,
            key.path,
            f"param `{key.text}` has no `value`",
            "write it as {value: -$1000, stricter: higher}",
        )
        return None
    stricter_node = value.get("stricter")
    if stricter_node is None:
        return ParamDoc(key.text, key, literal)
    text = stricter_node.text if isinstance(stricter_node, YScalar) else ""
    if text not in ("higher", "lower"):
        report.error(
            "RM052",
            stricter_node,
            stricter_node.path,
            "`stricter` must be `higher` or `lower`",
            did_you_mean(text, ("higher", "lower")),
        )
        return ParamDoc(key.text, key, literal)
    entry = next(Entry(k, v) for k, v in value.entries if k.text == "stricter")
    return ParamDoc(key.text, key, literal, Stricter(text), entry)


def _read_rules(node: YNode | None, report: Report) -> dict[str, RuleDoc]:
    rules: dict[str, RuleDoc] = {}
    for key, value in _named_entries(node, "rules", report):
        if key.text == NoStopLossGrace.ID:
            rules[key.text] = _nslg_doc(key, value, report)
            continue
        if not isinstance(value, YMap):
            report.error(
                "RM023",
                value,
                value.path,
                f"rule `{key.text}` must be a mapping, not {kind_of(value)}",
                "a rule has `when:` and `do:` keys",
            )
            continue
        check_keys(value, RULE_KEYS, f"rule `{key.text}`", report)
        fields = {k.text: Entry(k, v) for k, v in value.entries if k.text in RULE_KEYS}
        rules[key.text] = RuleDoc(key.text, key, fields)
    return rules


def _nslg_doc(key: YScalar, value: YNode, report: Report) -> RuleDoc:
    from rmdsl.rules.nslg import check_nslg_entry

    return RuleDoc(key.text, key, check_nslg_entry(key, value, report))


def within_limits(docs: list[FileDoc], report: Report) -> bool:
    """False (RM015 reported at the first one over) when the chain has too many rules or params."""
    rules = [rule.key for doc in docs for rule in doc.rules.values()]
    params = [param.key for doc in docs for param in doc.params.values()]
    return _within(rules, MAX_RULES, "rules", report) and _within(
        params, MAX_PARAMS, "params", report
    )


def _within(keys: list[YScalar], limit: int, what: str, report: Report) -> bool:
    seen: set[str] = set()
    for key in keys:
        seen.add(key.text)
        if len(seen) > limit:
            report.error(
                "RM015",
                key,
                key.path,
                f"more than {limit} {what} (with the files it extends)",
                f"a ruleset may have at most {limit} {what}; split it by account or purpose",
            )
            return False
    return True
