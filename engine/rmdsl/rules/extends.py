"""`extends`: load a file's chain of bases (cycles, missing files) and merge the FileDocs.

Bases merge first, in order; a later file changes rules field by field and params
by name, except where an earlier file forbids it (locked rules, directional params).
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from rmdsl.lang.types import ANY, Type, Value
from rmdsl.lang.yaml_loader import YScalar
from rmdsl.rules.document import FileDoc, ParamDoc
from rmdsl.rules.model import NoStopLossGrace, Setting, Stricter
from rmdsl.rules.values import Entry, Report, read_bool

MAX_CHAIN = 32
_RELATIVE = "the path is relative to the file that names it"
LoadDoc = Callable[[Path, str], FileDoc | None]  # (absolute path, display path) -> doc
TypedValue = tuple[Type, Value]
TypeParam = Callable[[ParamDoc], TypedValue | None]
ORDERED_TYPES = frozenset({"int", "number", "money", "duration"})


@dataclass(frozen=True, slots=True)
class Link:
    path: Path  # absolute
    display: str
    via: YScalar | None  # the `extends` entry that named this file


def load_chain(path: Path, display: str, load: LoadDoc, report: Report) -> list[FileDoc]:
    """Every file of the chain, bases before the files that extend them, each once.

    Each FileDoc's `bases` is set to the display paths of every file it extends,
    directly or not: a file that locks a rule vouches for its own bases only.
    """
    walk = _Walk(load, report)
    root = path.resolve()
    walk.visited.add(root)
    walk.visit([Link(root, display, None)])
    return walk.docs


@dataclass(slots=True)
class _Walk:
    load: LoadDoc
    report: Report
    docs: list[FileDoc] = field(default_factory=list)
    visited: set[Path] = field(default_factory=set)  # loaded or being loaded (or failed)
    loaded: dict[Path, FileDoc] = field(default_factory=dict)

    def visit(self, stack: list[Link]) -> None:
        link = stack[-1]
        doc = self.load(link.path, link.display)
        if doc is None:
            return
        bases: set[str] = set()
        for entry in doc.extends:
            shown = os.path.normpath(os.path.join(os.path.dirname(link.display), entry.text))
            target = _target(link, entry, shown, self.report)
            if target is None:
                continue
            if target in self.visited and not any(s.path == target for s in stack):
                pass  # a diamond: the shared base is merged once, at its first place
            elif _linkable(stack, Link(target, shown, entry), self.report):
                self.visited.add(target)
                self.visit([*stack, Link(target, shown, entry)])
            base = self.loaded.get(target)
            if base is not None:
                bases |= {base.path, *base.bases}
        doc.bases = frozenset(bases)
        self.loaded[link.path] = doc
        self.docs.append(doc)


def _linkable(stack: list[Link], link: Link, report: Report) -> bool:
    """True when `link` may be loaded: no cycle, not too deep, a regular file (else reported)."""
    entry = link.via
    assert entry is not None
    notes = _chain_notes([*stack, link])
    if any(s.path == link.path for s in stack):
        code, message = "RM401", f"`extends` cycle: {link.display} is already being loaded"
        hint: str | None = "a ruleset cannot extend itself, directly or not"
    elif len(stack) >= MAX_CHAIN:
        code, message, hint = "RM401", f"`extends` chain deeper than {MAX_CHAIN}", None
        notes = _chain_notes(stack)
    else:
        problem = _file_problem(link.path, link.display)
        if problem is None:
            return True
        code, message, hint = problem
    report.error(code, entry, entry.path, message, hint, notes=notes)
    return False


def _file_problem(path: Path, shown: str) -> tuple[str, str, str | None] | None:
    """Why an extended file cannot be loaded, from a stat (never an open): code, message, hint."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "RM400", f"extended file `{shown}` not found", _RELATIVE
    except (OSError, ValueError) as exc:
        return "RM407", f"extended file `{shown}` cannot be read: {_reason(exc)}", None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, a FIFO or a socket"
        return "RM407", f"extended file `{shown}` is not a file ({kind})", None
    return None


def _target(link: Link, entry: YScalar, shown: str, report: Report) -> Path | None:
    """The absolute path an `extends` entry names, or None (reported) when no path can be made.

    A NUL byte, an over-long name or a symlink loop make the OS refuse the path itself.
    """
    try:
        return (link.path.parent / entry.text).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        reason = "contains a NUL byte" if "\0" in entry.text else _reason(exc)
        report.error(
            "RM402",
            entry,
            entry.path,
            f"`extends` path `{_printable(shown)}` is not a usable file path: {reason}",
            "write a path relative to this file, e.g. `extends: base/topstep.yaml`",
        )
        return None


def _reason(exc: BaseException) -> str:
    """Why the OS refused a path, without the absolute path (messages are the same anywhere)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, RuntimeError) and "loop" in str(exc).lower():
        return "a symlink loop"  # Path.resolve before Python 3.13
    return type(exc).__name__


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _chain_notes(stack: list[Link]) -> tuple[str, ...]:
    notes = []
    for parent, child in itertools.pairwise(stack):
        line = f":{child.via.span.line}" if child.via else ""
        notes.append(f"{parent.display}{line} extends {child.display}")
    return tuple(notes)


@dataclass(slots=True)
class MergedParam:
    name: str
    type: Type
    value: Value
    doc: ParamDoc  # the definition that set the current value
    stricter: Stricter | None = None
    stricter_doc: ParamDoc | None = None


@dataclass(slots=True)
class MergedRule:
    id: str
    key: YScalar  # where the rule was first defined
    fields: dict[str, Entry] = field(default_factory=dict)
    locked_by: Entry | None = None  # the `locked: true` entry


@dataclass(slots=True)
class Merged:
    settings: dict[str, tuple[Setting, Entry]] = field(default_factory=dict)
    params: dict[str, MergedParam] = field(default_factory=dict)
    rules: dict[str, MergedRule] = field(default_factory=dict)
    nslg: dict[str, Entry] = field(default_factory=dict)
    docs: tuple[FileDoc, ...] = ()  # in merge order (rules.calendar reads the bases' settings)


def merge(docs: list[FileDoc], type_param: TypeParam, report: Report) -> Merged:
    merged = Merged(docs=tuple(docs))
    for doc in docs:
        merged.settings.update(doc.settings)
        for param in doc.params.values():
            typed = type_param(param)
            if typed is not None:
                _merge_param(merged, param, typed, report)
        for rule in doc.rules.values():
            if rule.id == NoStopLossGrace.ID:
                merged.nslg.update(rule.fields)
            else:
                _merge_rule(merged, doc, rule.id, rule.key, rule.fields, report)
    return merged


def _merge_param(merged: Merged, param: ParamDoc, typed: TypedValue, report: Report) -> None:
    typ, value = typed
    ordered = typ.elem if typ.is_map and typ.elem is not None else typ
    if param.stricter is not None and ordered.name not in ORDERED_TYPES:
        entry = param.stricter_entry
        report.error(
            "RM053",
            entry.value if entry else param.key,
            param.key.path,
            f"`stricter` needs a value with an order, and `{param.name}` is {typ}",
            "directional params are int, number, money or duration (or maps of them)",
        )
        return
    base = merged.params.get(param.name)
    if base is None:
        merged.params[param.name] = MergedParam(
            param.name, typ, value, param, param.stricter, param if param.stricter else None
        )
        return
    empty_list = typ.is_list and base.type.is_list and ANY in (typ.elem, base.type.elem)
    if typ != base.type and not (typ.is_numeric and base.type.is_numeric) and not empty_list:
        report.error(
            "RM406",
            param.value,
            param.key.path,
            f"param `{param.name}` is {base.type} in {_where(base.doc)}, not {typ}",
            "an extending file may change a param's value, not its type",
        )
        return
    if not _stricter_kept(base, param, report) or not _direction_ok(base, param, value, report):
        return
    concrete = typ if empty_list and base.type.elem == ANY else base.type  # `[]` takes a type
    base.value, base.doc, base.type = value, param, concrete
    if base.stricter is None and param.stricter is not None:
        base.stricter, base.stricter_doc = param.stricter, param


def _stricter_kept(base: MergedParam, param: ParamDoc, report: Report) -> bool:
    if base.stricter is None or param.stricter in (None, base.stricter):
        return True
    entry = param.stricter_entry
    report.error(
        "RM405",
        entry.value if entry else param.key,
        param.key.path,
        f"param `{param.name}` is `stricter: {base.stricter}` in "
        f"{_where(base.stricter_doc or base.doc)}; it cannot become {param.stricter}",
        "remove `stricter` here: the direction is inherited",
    )
    return False


def _direction_ok(base: MergedParam, param: ParamDoc, value: Value, report: Report) -> bool:
    if base.stricter is None:
        return True
    if isinstance(base.value, Mapping) and isinstance(value, Mapping):
        return _map_direction_ok(base, param, value, report)
    old, new = _num(base.value), _num(value)
    if old is None or new is None:
        return True
    looser = new < old if base.stricter is Stricter.HIGHER else new > old
    if not looser:
        return True
    shown = param.value.raw if isinstance(param.value, YScalar) else str(value)
    old_shown = base.doc.value.raw if isinstance(base.doc.value, YScalar) else str(base.value)
    way = "lower" if base.stricter is Stricter.HIGHER else "higher"
    report.error(
        "RM404",
        param.value,
        param.key.path,
        f"param `{param.name}` may only get stricter: {shown} is {way} than "
        f"{old_shown} from {_where(base.doc)}",
        f"`{param.name}` is `stricter: {base.stricter}`; use a value "
        f"{'>=' if base.stricter is Stricter.HIGHER else '<='} {old_shown}",
    )
    return False


def _map_direction_ok(
    base: MergedParam, param: ParamDoc, value: Mapping[str, Value], report: Report
) -> bool:
    """A directional map gets stricter key by key; a child may add keys, never drop one."""
    assert isinstance(base.value, Mapping)
    for key, old_value in base.value.items():
        old, new = _num(old_value), _num(value.get(key))
        looser = new is None or (new < old if base.stricter is Stricter.HIGHER else new > old)  # type: ignore[operator]
        if looser:
            way = "lower" if base.stricter is Stricter.HIGHER else "higher"
            shown = "missing" if new is None else f"{value[key]}, {way} than"
            report.error(
                "RM404",
                param.value,
                param.key.path,
                f"param `{param.name}` may only get stricter: `{key}` is {shown} "
                f"{old_value} from {_where(base.doc)}",
                f"`{param.name}` is `stricter: {base.stricter}` key by key; keep every key",
            )
            return False
    return True


def _num(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return None


def _where(doc: ParamDoc) -> str:
    return f"{doc.key.path}:{doc.key.span.line}"


def _merge_rule(
    merged: Merged,
    doc: FileDoc,
    rule_id: str,
    key: YScalar,
    fields: dict[str, Entry],
    report: Report,
) -> None:
    current = merged.rules.get(rule_id)
    if current is None:
        current = merged.rules[rule_id] = MergedRule(rule_id, key)
    elif current.locked_by is not None:
        lock = current.locked_by.key
        changed = ", ".join(f"`{name}`" for name in fields) or "nothing"
        report.error(
            "RM403",
            key,
            key.path,
            f"rule `{rule_id}` is locked in {lock.path}:{lock.span.line} and cannot be "
            f"changed here (this file sets {changed})",
            "remove this rule from the extending file, or ask the base's owner",
        )
        return
    current.fields.update(fields)
    locked = fields.get("locked")
    if locked is not None and read_bool(locked.value, "`locked`", report):
        current.locked_by = locked
        _foreign_fields(current, doc, report)


def _foreign_fields(rule: MergedRule, locker: FileDoc, report: Report) -> None:
    """A locked rule is its locking file's: no field may come from a file it does not extend.

    `extends: [pre.yaml, base.yaml]` merges pre.yaml first; without this check its
    `enabled: false` for a rule base.yaml locks (and does not mention) would stay.
    """
    own = {locker.path, *locker.bases}
    lock = rule.locked_by
    assert lock is not None
    for name, entry in rule.fields.items():
        if entry.key.path in own:
            continue
        report.error(
            "RM412",
            entry.key,
            entry.key.path,
            f"`{name}` of rule `{rule.id}` is set here, but the rule is locked in "
            f"{lock.key.path}:{lock.key.span.line}, which does not extend this file",
            f"remove `{name}` here: a locked rule is written by the file that locks it "
            "and that file's bases",
        )
