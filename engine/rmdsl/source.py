"""Source text and spans: where every diagnostic points (1-based lines and columns).

Also the one way a ruleset file is read (`read_file_bytes`): a path is stat-ed
before it is opened, so a device, a FIFO or an oversized file is refused without
reading a byte (`rmdsl check /dev/zero` must not read forever).
"""

from __future__ import annotations

import bisect
import functools
import os
import stat
from dataclasses import dataclass
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


class LineIndex:
    """Text offsets -> 1-based (line, col) in O(log lines), the line starts found once."""

    def __init__(self, text: str) -> None:
        starts, at = [0], text.find("\n")
        while at != -1:
            starts.append(at + 1)
            at = text.find("\n", at + 1)
        self._starts = starts

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file's path (as the user named it) and its text, for caret rendering."""

    path: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> SourceFile:
        raw = read_file_bytes(path)
        return cls(str(path), raw.decode("utf-8", errors="replace"))

    def line_text(self, line: int) -> str:
        lines = _lines(self.text)
        return lines[line - 1] if 1 <= line <= len(lines) else ""


@functools.lru_cache(maxsize=8)
def _lines(text: str) -> tuple[str, ...]:
    """A file's lines, split once: a diagnostic per line of a large file was O(n^2)."""
    return tuple(text.splitlines())
