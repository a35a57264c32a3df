"""Source text and spans: where every diagnostic points (offsets, 1-based lines and columns).

Also the one way a ruleset file is read (`read_file_bytes`): a path is stat-ed
before it is opened, so a device, a FIFO or an oversized file is refused without
reading a byte (`rmdsl check /dev/zero` must not read forever).
"""

from __future__ import annotations

import bisect
import functools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

# The most bytes read for one ruleset, its extends chain included (docs/performance.md, "Input
# limits"): a larger file is refused from its stat, before it is read.
MAX_FILE_BYTES = 500_000
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """The path exists but is no regular file; `kind` says what it is ("a FIFO (named pipe)")."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"is {kind}, not a regular file")
        self.strerror = f"is {kind}, not a regular file"
        self.filename, self.kind = path, kind


class FileTooLargeError(OSError):
    """The file is larger than the limit; it was not read (or read only up to the limit)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"file is too large ({size} bytes)")
        self.strerror = f"file is too large ({size} bytes)"
        self.filename, self.size, self.limit = path, size, limit


class BadPathError(OSError):
    """A path the OS cannot take at all (a NUL byte): an OSError, so every caller that reports
    an unreadable file (exit 2, RM407, RM013) reports this one too, never a ValueError."""

    def __init__(self, path: str) -> None:
        shown = path.encode("unicode_escape").decode("ascii")
        super().__init__(f"the path `{shown}` contains a NUL byte")
        self.strerror = "the path contains a NUL byte"
        self.filename = shown


def check_path(path: str | Path) -> None:
    """BadPathError for a path no system call accepts (checked before resolve() or stat())."""
    if "\0" in str(path):
        raise BadPathError(str(path))


def read_file_bytes(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; OSError for anything else.

    stat first: a device, FIFO or socket is refused unopened. It is then opened
    with O_NONBLOCK (a FIFO swapped in after the stat cannot block the open), the
    open file is checked again, and at most limit + 1 bytes are ever read.
    """
    shown = str(path)
    check_path(shown)
    _check_stat(shown, os.stat(path), limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_stat(shown, os.fstat(fd), limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise FileTooLargeError(shown, size, limit)  # it grew after the stat
    return b"".join(chunks)


def require_regular_file(path: str | Path) -> None:
    """NotRegularFileError for a device, FIFO or directory (stat only): before an open()."""
    check_path(path)
    _check_stat(str(path), os.stat(path), None)


def _check_stat(path: str, st: os.stat_result, limit: int | None) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
        raise NotRegularFileError(path, kind)
    if limit is not None and st.st_size > limit:
        raise FileTooLargeError(path, st.st_size, limit)


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a file: start line/col and end line/col (end col exclusive), 1-based, and
    as lark's tokens carry them, the [start_pos, end_pos) character offsets in the file's
    text. Spans made from text are made by LineIndex.span, the one place an offset becomes
    a line and a column; a span known only by line (a TOML error) has no offsets.

    Two spans are equal when they cover the same lines and columns (offsets are derived).
    """

    line: int
    col: int
    end_line: int
    end_col: int
    start_pos: int | None = field(default=None, compare=False)
    end_pos: int | None = field(default=None, compare=False)

    @classmethod
    def point(cls, line: int, col: int, length: int = 1) -> Span:
        return cls(line, col, line, col + max(length, 1))

    def to(self, last: Span) -> Span:
        """From the start of this span to the end of `last`."""
        return Span(self.line, self.col, last.end_line, last.end_col, self.start_pos, last.end_pos)


class LineIndex:
    """Text offsets -> 1-based (line, col) in O(log lines), the line starts found once.

    A line ends at "\n" (a "\r" before it belongs to the line break); a column counts
    characters (code points), a tab being one, as lark and the YAML parser count them.
    """

    def __init__(self, text: str) -> None:
        starts, at = [0], text.find("\n")
        while at != -1:
            starts.append(at + 1)
            at = text.find("\n", at + 1)
        self._starts = starts
        self._length = len(text)

    def position(self, offset: int) -> tuple[int, int]:
        """The one conversion from a character offset to (line, col)."""
        offset = min(max(offset, 0), self._length)
        index = bisect.bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1

    def span(self, start: int, end: int) -> Span:
        """The span of text[start:end]; an empty or one-character one is one column wide."""
        line, col = self.position(start)
        if end <= start + 1:
            return Span(line, col, line, col + 1, start, max(end, start + 1))
        end_line, end_col = self.position(end)
        return Span(line, col, end_line, end_col, start, end)


@functools.lru_cache(maxsize=16)
def line_index(text: str) -> LineIndex:
    """The LineIndex of a text, built once per text (every span of a file uses one)."""
    return LineIndex(text)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's path (as the user named it) and its text, for spans and caret rendering."""

    path: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> SourceFile:
        raw = read_file_bytes(path)
        return cls(str(path), raw.decode("utf-8", errors="replace"))

    def span(self, start: int, end: int) -> Span:
        """The span of text[start:end] (offsets into this file's text)."""
        return line_index(self.text).span(start, end)

    def line_text(self, line: int) -> str:
        lines = _lines(self.text)
        return lines[line - 1] if 1 <= line <= len(lines) else ""


@functools.lru_cache(maxsize=8)
def _lines(text: str) -> tuple[str, ...]:
    """A file's lines as LineIndex counts them, split once (per line was O(n^2))."""
    return tuple(line.removesuffix("\r") for line in text.split("\n"))
