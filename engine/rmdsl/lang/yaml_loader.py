"""YAML bytes -> our positioned node tree (YMap / YSeq / YScalar), or a LoadError.

The only module that imports ruamel. It reads the event stream, never the
constructed objects, so anchors, aliases, merge keys, tags and duplicate keys
are seen and rejected before any value exists; scalars resolve by the YAML 1.2
core schema (only true/false are booleans) and keep their exact source text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmdsl.errors import Diagnostic, LoadError
from rmdsl.lang.yaml_errors import describe_yaml_error
from rmdsl.lang.yaml_nodes import (
    ScalarValue,
    YMap,
    YNode,
    YScalar,
    YSeq,
    kind_of,
    resolve_plain,
)
from rmdsl.source import (
    MAX_FILE_BYTES,
    FileTooLargeError,
    SourceFile,
    Span,
    line_index,
    read_file_bytes,
)

MAX_DEPTH = 200
MAX_BYTES = MAX_FILE_BYTES
# YAML values (scalars, lists, mappings) in a ruleset and the files it extends: the pure-Python
# parser spends ~25 us on each, so a byte limit alone cannot bound the time (`[1,1,1,...]`
# is a value every 2 bytes). ~15 per rule; docs/performance.md, "Input limits".
MAX_NODES = 50_000
__all__ = ["YMap", "YNode", "YScalar", "YSeq", "kind_of", "load_yaml_bytes", "load_yaml_file"]


@dataclass(slots=True)
class NodeBudget:
    """The YAML values still allowed: shared by the files of one extends chain."""

    left: int = MAX_NODES


def load_yaml_file(path: str | Path) -> tuple[YMap, SourceFile]:
    """Read and parse a ruleset file. OSError propagates (an I/O error, exit 2).

    A file over the limit is RM002 without being read; a device or FIFO is an OSError.
    """
    try:
        raw = read_file_bytes(path, MAX_BYTES)
    except FileTooLargeError as exc:
        raise too_large(str(path), exc.size) from None
    return load_yaml_bytes(raw, str(path))


def too_large(path: str, size: int, before: int = 0) -> LoadError:
    """RM002: a file over MAX_BYTES (by stat before reading, or on the bytes); `before`: the
    bytes the files of its extends chain read before it (they share the limit)."""
    if before:
        message = f"file is too large ({size} bytes after {before} bytes of the extends chain)"
    else:
        message = f"file is too large ({size} bytes)"
    hint = f"a ruleset file, with the files it extends, may be at most {MAX_BYTES} bytes"
    return _error("RM002", path, None, message, None, hint)


def load_yaml_bytes(
    raw: bytes, path: str, budget: NodeBudget | None = None
) -> tuple[YMap, SourceFile]:
    if len(raw) > MAX_BYTES:
        raise too_large(path, len(raw))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        src = SourceFile(path, raw.decode("utf-8", errors="replace"))
        raise _error(
            "RM001",
            path,
            _after(raw[: exc.start].decode("utf-8", errors="replace")),
            "file is not valid UTF-8 text",
            src,
            "ruleset files are UTF-8 YAML",
        ) from None
    return load_yaml_text(text, path, budget), SourceFile(path, text)


def load_yaml_text(text: str, path: str, budget: NodeBudget | None = None) -> YMap:
    source = SourceFile(path, text)
    if "\x00" in text:
        raise _error(
            "RM001",
            path,
            source.span(text.index("\x00"), text.index("\x00") + 1),
            "file contains a NUL byte",
            source,
            "ruleset files are UTF-8 YAML text, not binary data",
        )
    root = _Builder(text, path, source, budget or NodeBudget()).build()
    if root is None:
        raise _error(
            "RM003",
            path,
            None,
            "the file is empty",
            None,
            "a ruleset starts with `rmdsl: 1` and `name: ...`",
        )
    if not isinstance(root, YMap):
        raise _error(
            "RM004",
            path,
            root.span,
            f"a ruleset file must be a mapping of keys, not {kind_of(root)}",
            source,
            "a ruleset starts with `rmdsl: 1` and `name: ...`",
        )
    return root


def _error(
    code: str,
    path: str,
    span: Span | None,
    message: str,
    source: SourceFile | None,
    hint: str | None = None,
) -> LoadError:
    diag = Diagnostic(code, message, path, span, hint=hint)
    return LoadError([diag.with_source(source) if source else diag])


def _after(prefix: str) -> Span:
    """The point just after `prefix`, the file's start (decoded alone: it may cut a char)."""
    return line_index(prefix).span(len(prefix), len(prefix) + 1)


_SKIPPED = frozenset({"StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"})
_STYLES = {None: "plain", "'": "single", '"': "double", "|": "literal", ">": "folded"}


class _Builder:
    """Event stream -> node tree, iteratively (deep nesting must not blow the Python stack)."""

    def __init__(self, text: str, path: str, source: SourceFile, budget: NodeBudget) -> None:
        self.budget = budget
        self.text = text
        self.path = path
        self.source = source

    def build(self) -> YNode | None:
        try:
            return self._build()
        except LoadError:
            raise
        except Exception as exc:  # any ruamel failure becomes a located diagnostic
            raise self._convert(exc) from None

    def _build(self) -> YNode | None:
        import io

        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)  # events only; "rt" also scans comments (~30% slower)
        stack: list[tuple[Any, list[YNode]]] = []
        root: YNode | None = None
        documents = 0
        for ev in yaml.parse(io.StringIO(self.text)):
            name = type(ev).__name__
            documents += name == "DocumentStartEvent"
            if name in _SKIPPED or self._refused(ev, name, documents):
                continue
            self._reject_anchor_and_tag(ev)
            if name in ("MappingStartEvent", "SequenceStartEvent", "ScalarEvent"):
                self._count(ev)
            if name in ("MappingStartEvent", "SequenceStartEvent"):
                if len(stack) >= MAX_DEPTH:
                    raise self._fail("RM007", ev, f"YAML nesting deeper than {MAX_DEPTH} levels")
                stack.append((ev, []))
                continue
            if name in ("MappingEndEvent", "SequenceEndEvent"):
                start, children = stack.pop()
                node: YNode = self._collection(start, ev, children)
            else:
                node = self._scalar(ev)
            if stack:
                stack[-1][1].append(node)
            else:
                root = node
        return root

    def _refused(self, ev: Any, name: str, documents: int) -> bool:
        """Raises for a second document or an alias; True for an event with nothing to build."""
        if name == "DocumentStartEvent" and documents > 1:
            raise self._fail(
                "RM005",
                ev,
                "a ruleset file holds exactly one YAML document",
                "remove the `---` separator and the second document",
            )
        if name == "AliasEvent":
            raise self._fail(
                "RM006",
                ev,
                f"YAML alias `*{ev.anchor}` is not allowed",
                "write the value out; anchors and aliases are rejected so "
                "no value can be copied in unseen",
            )
        return name == "DocumentStartEvent"

    def _count(self, ev: Any) -> None:
        self.budget.left -= 1
        if self.budget.left < 0:
            raise self._fail(
                "RM014",
                ev,
                f"more than {MAX_NODES} YAML values (with the files it extends)",
                "a ruleset is a few hundred rules at most; split data out or shorten lists",
            )

    def _reject_anchor_and_tag(self, ev: Any) -> None:
        if getattr(ev, "anchor", None):
            raise self._fail(
                "RM006",
                ev,
                f"YAML anchor `&{ev.anchor}` is not allowed",
                "write the value out; anchors and aliases are rejected so no "
                "value can be copied in unseen",
            )
        tag = getattr(ev, "tag", None)
        if tag:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise self._fail(
                "RM008",
                ev,
                f"YAML tag `{shown}` is not allowed",
                "remove the tag; values are typed by the ruleset schema",
            )

    def _collection(self, start: Any, end: Any, children: list[YNode]) -> YNode:
        span = self._span(start.start_mark, end.end_mark)
        flow = bool(getattr(start, "flow_style", False))
        offsets = (self._index(start.start_mark), self._index(end.end_mark))
        if type(start).__name__ == "SequenceStartEvent":
            return YSeq(tuple(children), span, self.path, flow, offsets)
        entries: list[tuple[YScalar, YNode]] = []
        seen: dict[str, YScalar] = {}
        for key, value in zip(children[::2], children[1::2], strict=True):
            if isinstance(value, YScalar) and value.raw == "" and isinstance(key, YScalar):
                # ruamel marks an empty value where the next token starts: point at its key
                value = dataclasses.replace(value, span=key.span, origin=key.span)
            entries.append((self._key(key, seen), value))
        return YMap(tuple(entries), span, self.path, offsets)

    def _key(self, key: YNode, seen: dict[str, YScalar]) -> YScalar:
        if not isinstance(key, YScalar):
            raise LoadError(
                [
                    self._diag(
                        "RM009", key.span, f"a mapping key must be a plain name, not {kind_of(key)}"
                    )
                ]
            )
        if key.text == "<<" and key.style == "plain":
            raise LoadError(
                [
                    self._diag(
                        "RM010",
                        key.span,
                        "YAML merge keys (`<<`) are not allowed",
                        "write the keys out in this mapping",
                    )
                ]
            )
        if key.text in seen:
            first = seen[key.text].span
            raise LoadError(
                [
                    self._diag(
                        "RM011",
                        key.span,
                        f"duplicate key `{key.text}`",
                        f"`{key.text}` is already set on line {first.line}; a key may appear "
                        "only once (it is never silently overwritten)",
                    )
                ]
            )
        seen[key.text] = key
        return key

    def _scalar(self, ev: Any) -> YScalar:
        style = _STYLES.get(ev.style, "plain")
        span = self._span(ev.start_mark, ev.end_mark)
        offsets = (self._index(ev.start_mark), self._index(ev.end_mark))
        raw = self.text[offsets[0] : offsets[1]]
        value: ScalarValue = resolve_plain(ev.value) if style == "plain" else ev.value
        origin = self._origin(offsets[0], style)
        return YScalar(value, ev.value, raw, style, span, origin, self.path, offsets)

    def _origin(self, start: int, style: str) -> Span:
        """Where the scalar's `text` starts: after a quote, or on the line after `|` / `>`."""
        if style in ("single", "double"):
            start += 1
        elif style in ("literal", "folded"):
            newline = self.text.find("\n", start)
            start = len(self.text) if newline < 0 else newline + 1
            while start < len(self.text) and self.text[start] == " ":
                start += 1
        return self.source.span(start, start + 1)

    def _index(self, mark: Any) -> int:
        return min(int(mark.index), len(self.text))

    def _span(self, start_mark: Any, end_mark: Any) -> Span:
        start, end = self._index(start_mark), self._index(end_mark)
        if end > start and self.text[end - 1] == "\n":  # ends where the next line starts:
            end -= 1  # keep it on its last line, without the line break ("\r\n" too)
            if end > start and self.text[end - 1] == "\r":
                end -= 1
        return self.source.span(start, end)

    def _diag(
        self, code: str, span: Span | None, message: str, hint: str | None = None
    ) -> Diagnostic:
        return Diagnostic(code, message, self.path, span, hint=hint).with_source(self.source)

    def _fail(self, code: str, ev: Any, message: str, hint: str | None = None) -> LoadError:
        span = self._span(ev.start_mark, ev.end_mark)
        return LoadError([self._diag(code, span, message, hint)])

    def _convert(self, exc: Exception) -> LoadError:
        span, message, hint = describe_yaml_error(exc, self.text)
        return LoadError([self._diag("RM012", span, message, hint)])
