"""The positioned YAML node tree (YMap / YSeq / YScalar) the loader builds and later stages
read, and the YAML 1.2 core schema that types plain scalars.

No ruamel here: rmdsl.lang.yaml_loader is the only module that imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rmdsl.source import Span

ScalarValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class YScalar:
    value: ScalarValue  # resolved by the YAML 1.2 core schema; quoted scalars are always str
    text: str  # the scalar's content as YAML decoded it (quotes removed, escapes applied)
    raw: str  # the exact source text of the node
    style: str  # "plain" | "single" | "double" | "literal" | "folded"
    span: Span
    origin: Span  # file position (and offset) of the first character of `text`
    path: str
    offsets: tuple[int, int] = (0, 0)  # [start, end) in the file's text

    @property
    def start(self) -> int:
        """The offset in the file's text of the first character of `text` (and `expr_text`)."""
        return self.origin.start_pos if self.origin.start_pos is not None else self.offsets[0]

    @property
    def quoted(self) -> bool:
        return self.style in ("single", "double")

    @property
    def expr_text(self) -> str:
        """The text to parse as an expression, laid out so that columns on every line match the
        file: lines after the first keep their indentation (whitespace is insignificant in
        expressions), so YAML's folding of `>` and multi-line plain scalars moves nothing."""
        if self.quoted or "\n" not in self.raw.rstrip("\n"):
            return self.text
        lines = self.raw.rstrip("\n").split("\n")
        if self.style in ("literal", "folded"):
            lines = lines[1:]  # the `|` / `>` header line
        return "\n".join([lines[0].lstrip(" "), *lines[1:]])


@dataclass(frozen=True, slots=True)
class YSeq:
    items: tuple[YNode, ...]
    span: Span
    path: str
    flow: bool = False
    offsets: tuple[int, int] = (0, 0)  # [start, end) in the file's text


@dataclass(frozen=True, slots=True)
class YMap:
    entries: tuple[tuple[YScalar, YNode], ...]
    span: Span
    path: str
    offsets: tuple[int, int] = (0, 0)  # [start, end) in the file's text

    def get(self, key: str) -> YNode | None:
        for k, v in self.entries:
            if k.text == key:
                return v
        return None

    def keys(self) -> tuple[str, ...]:
        return tuple(k.text for k, _ in self.entries)


YNode = YScalar | YSeq | YMap


def kind_of(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(node.value), "an empty value")


_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


def resolve_plain(text: str) -> ScalarValue:
    """YAML 1.2 core schema; everything else (yes/no/on/off, 08:30, dates) stays a string."""
    if _NULL.match(text):
        return None
    if _TRUE.match(text):
        return True
    if _FALSE.match(text):
        return False
    try:
        if _INT.match(text):
            return int(text)
        if _OCT.match(text):
            return int(text[2:], 8)
        if _HEX.match(text):
            return int(text[2:], 16)
        if _FLOAT.match(text):
            return float(text)
    except ValueError:  # more digits than Python converts: leave it as text
        pass
    return text
