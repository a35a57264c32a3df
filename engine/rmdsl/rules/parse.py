"""The parse pass: Source -> Parsed, every file of the extends chain read into a FileDoc.

Each file is read once (its text for carets, its bytes for the digest); the YAML of the
whole chain shares one byte budget and one node budget (docs/performance.md, "Input
limits"), and the rule and param counts are checked before any expression is parsed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from rmdsl.errors import LoadError
from rmdsl.lang.yaml_loader import NodeBudget, load_yaml_bytes, too_large
from rmdsl.rules.document import FileDoc, parse_file_doc, within_limits
from rmdsl.rules.extends import load_chain
from rmdsl.rules.stages import Parsed, Source
from rmdsl.rules.values import Report
from rmdsl.source import MAX_FILE_BYTES, FileTooLargeError, SourceFile, check_path, read_file_bytes


def parse_files(source: Source) -> Parsed:
    """The chain's FileDocs, bases first. OSError when the named file cannot be read."""
    check_path(source.path)  # an OSError (exit 2), not a ValueError from resolve()
    report = Report()
    files = _Files(source.path, report)
    docs = load_chain(Path(source.path), source.path, files.load, report)
    limited = within_limits(docs, report)
    return Parsed(
        source.path,
        tuple(docs),
        dict(files.sources),
        tuple(str(p) for p in files.absolute),
        files.digest(),
        limited,
        diagnostics=tuple(report.diagnostics),
    )


class _Files:
    """Reads each file of the chain once: its text for carets, its bytes for the digest."""

    def __init__(self, root: str, report: Report) -> None:
        self.root, self.report = root, report
        self.bytes_left, self.nodes = MAX_FILE_BYTES, NodeBudget()  # for the whole chain
        self.sources: dict[str, SourceFile] = {}
        self.absolute: list[Path] = []
        self.raw: list[bytes] = []

    def load(self, absolute: Path, display: str) -> FileDoc | None:
        named = display == self.root and not self.sources
        try:
            # the file the user named: an OSError (missing, a device, a FIFO) -> exit 2
            raw = read_file_bytes(Path(display) if named else absolute, self.bytes_left)
        except FileTooLargeError as exc:
            chain = MAX_FILE_BYTES - self.bytes_left if exc.size <= MAX_FILE_BYTES else 0
            self.report.extend(too_large(display, exc.size, chain).diagnostics)
            return None
        except OSError as exc:
            if named:
                raise
            self.report.error_at(
                "RM407", None, display, f"cannot read `{display}`: {exc.strerror or exc}"
            )
            return None
        self.bytes_left -= len(raw)
        self.absolute.append(absolute)
        self.raw.append(raw)
        try:
            root, source = load_yaml_bytes(raw, display, self.nodes)
        except LoadError as err:
            self.sources[display] = SourceFile(display, raw.decode("utf-8", errors="replace"))
            self.report.extend(err.diagnostics)
            return None
        self.sources[display] = source
        return parse_file_doc(root, display, self.report)

    def digest(self) -> str:
        sha = hashlib.sha256()
        for path, raw in zip(self.absolute, self.raw, strict=True):
            sha.update(str(path).encode() + b"\0" + raw + b"\0")
        return sha.hexdigest()
