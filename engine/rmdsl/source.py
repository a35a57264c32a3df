"""Source text and spans: where every diagnostic points (1-based lines and columns)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a file: start line/col and end line/col (end col exclusive), 1-based."""

    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, line: int, col: int, length: int = 1) -> Span:
        return cls(line, col, line, col + max(length, 1))

    def shifted(self, line_offset: int, col_offset: int) -> Span:
        """Move a span measured inside an embedded string to file coordinates.

        The column offset applies only to the first line of the embedded text,
        which is where a YAML scalar starts.
        """
        col = self.col + col_offset if self.line == 1 else self.col
        end_col = self.end_col + col_offset if self.end_line == 1 else self.end_col
        return Span(self.line + line_offset, col, self.end_line + line_offset, end_col)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's path (as the user named it) and its text, for caret rendering."""

    path: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> SourceFile:
        raw = Path(path).read_bytes()
        return cls(str(path), raw.decode("utf-8", errors="replace"))

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 1 <= line <= len(lines) else ""
