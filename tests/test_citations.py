"""Nothing in the repository cites a file that is not in it: code and docs cite docs/ pages."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_FILES = [
    p
    for folder in ("engine", "tests", "docs", "benchmarks", "examples", "rulesets", "grammar")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in {".py", ".md", ".yaml", ".lark"} and "golden" not in p.parts
] + [ROOT / "README.md"]
# files that live outside the repository (the product's working notes)
OUTSIDE = re.compile(
    r"\bSPEC\b|SPEC\.md|\.\./shared|/shared/|product-decisions|projectx-notes|STYLE\.md"
)
DOCS_LINK = re.compile(r"\bdocs/([\w-]+\.md)")


def test_no_citation_of_files_outside_the_repository() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in TEXT_FILES
        if p.name != "test_citations.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)


def test_every_cited_docs_page_exists() -> None:
    missing = {
        f"{p.relative_to(ROOT)}: docs/{name}"
        for p in TEXT_FILES
        for name in DOCS_LINK.findall(p.read_text(encoding="utf-8"))
        if not (ROOT / "docs" / name).exists()
    }
    assert not missing, sorted(missing)
