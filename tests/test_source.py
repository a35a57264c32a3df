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
