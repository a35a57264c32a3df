"""source.py: the one way a ruleset file is read, and offset -> line/column."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rmdsl.pipeline import check_ruleset
from rmdsl.source import (
    BadPathError,
    FileTooLargeError,
    LineIndex,
    NotRegularFileError,
    SourceFile,
    Span,
    read_file_bytes,
)


def test_reads_a_regular_file_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"x" * 100)
    assert read_file_bytes(path, limit=100) == b"x" * 100
    with pytest.raises(FileTooLargeError) as err:
        read_file_bytes(path, limit=99)
    assert err.value.size == 100


def test_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO (named pipe)"), (tmp_path, "a directory")):
        with pytest.raises(NotRegularFileError) as err:
            read_file_bytes(path)
        assert err.value.kind == kind
    with pytest.raises(NotRegularFileError):
        read_file_bytes("/dev/null")


def test_a_nul_in_the_path_is_an_oserror_everywhere() -> None:
    with pytest.raises(BadPathError) as err:
        check_ruleset("rules\0.yaml")
    assert isinstance(err.value, OSError)
    assert err.value.strerror == "the path contains a NUL byte"
    assert err.value.filename == "rules\\x00.yaml"


def test_line_index_matches_counting_newlines() -> None:
    text = "ab\ncd\n\nefg\n"
    index = LineIndex(text)
    for offset in range(len(text) + 1):
        before = text[:offset]
        expected = (before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)
        assert index.position(offset) == expected


def test_a_span_carries_offsets_and_counts_columns_in_characters() -> None:
    text = "ab\r\ncé😀\tx\n\ny"
    source = SourceFile("f.yaml", text)
    at = text.index("x")
    span = source.span(at, at + 1)
    assert span == Span(2, 5, 2, 6)  # c, é, 😀 and the tab are one column each
    assert (span.start_pos, span.end_pos) == (at, at + 1)
    assert source.span(text.index("b"), len(text)) == Span(1, 2, 4, 2)  # over four lines
    assert source.span(len(text), len(text)) == Span(4, 2, 4, 3)  # the end: one column wide


def test_crlf_belongs_to_the_line_break() -> None:
    text = "ab\r\ncd\r\n"
    index = LineIndex(text)
    assert index.position(text.index("\r")) == (1, 3)
    assert index.position(text.index("c")) == (2, 1)
    source = SourceFile("f.yaml", text)
    assert (source.line_text(1), source.line_text(2)) == ("ab", "cd")


def test_a_crlf_file_with_unicode_and_a_tab_is_located_exactly(tmp_path: Path) -> None:
    text = (
        'rmdsl: 1\r\nname: "é😀"\r\nrules:\r\n  a:\r\n    message: "😀 {day.tradez}"\r\n'
        '    when: "day.trades >\t2 and x"\r\n    do: [alert]\r\n'
    )
    path = tmp_path / "r.yaml"
    path.write_bytes(text.encode("utf-8"))
    found = {
        (d.span.line, d.span.col, d.span.end_col, d.source_line)
        for d in check_ruleset(path).diagnostics
        if d.code == "RM150" and d.span is not None
    }
    message = '    message: "😀 {day.tradez}"'
    when = '    when: "day.trades >\t2 and x"'
    assert found == {(5, 18, 28, message), (6, 31, 32, when)}
