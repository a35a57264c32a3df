"""The YAML loader: our node tree with file spans, and clean LoadErrors."""

from __future__ import annotations

import pytest

from rmdsl.errors import LoadError
from rmdsl.lang.yaml_loader import YMap, YScalar, YSeq, load_yaml_bytes, load_yaml_text


def test_spans_and_origins() -> None:
    root = load_yaml_text('a: day.x <= 1\nb: "q y"\nc: |\n  day.z\n', "f.yaml")
    a, b, c = (root.get(k) for k in "abc")
    assert isinstance(a, YScalar) and (a.origin.line, a.origin.col) == (1, 4)
    assert isinstance(b, YScalar) and b.quoted and (b.origin.line, b.origin.col) == (2, 5)
    assert isinstance(c, YScalar) and (c.origin.line, c.origin.col) == (4, 3)
    assert a.raw == "day.x <= 1"


def test_spans_carry_the_offsets_of_their_text() -> None:
    """Every node's span covers its own source text (offsets from the YAML parser, lines and
    columns from them), in a CRLF file with multi-byte characters."""
    text = 'a: "é😀 x"\r\nb:\r\n  - day.x <= 1\r\n  - {k: v}\r\nc: |\r\n  lit\r\n'
    root = load_yaml_text(text, "f.yaml")
    nodes = [(None, root)]
    seen = 0
    while nodes:
        _, node = nodes.pop()
        span = node.span
        assert span.start_pos is not None and span.end_pos is not None
        covered = text[span.start_pos : span.end_pos]
        if isinstance(node, YScalar):
            assert covered == node.raw.rstrip("\r\n"), (covered, node.raw)
            assert text[node.start] == (node.text or "\r")[0]  # where `text` begins
            seen += 1
        elif isinstance(node, YSeq):
            nodes += [(None, item) for item in node.items]
        elif isinstance(node, YMap):
            nodes += [pair for k, v in node.entries for pair in ((None, k), (None, v))]
    assert seen == 8
    b_item = root.get("b")
    assert isinstance(b_item, YSeq)
    first = b_item.items[0].span
    assert (first.line, first.col, first.end_line, first.end_col) == (3, 5, 3, 15)


def test_yaml_1_2_core_schema() -> None:
    root = load_yaml_text("a: yes\nb: true\nc: 08:30\nd: 5\ne: 2.5\nf: ~\n", "f")
    values = [v.value for _, v in root.entries if isinstance(v, YScalar)]
    assert values == ["yes", True, "08:30", 5, 2.5, None]


def test_flow_and_block_collections() -> None:
    root = load_yaml_text("a: [1, 2]\nb:\n  - x\n", "f")
    a, b = root.get("a"), root.get("b")
    assert isinstance(a, YSeq) and a.flow and len(a.items) == 2
    assert isinstance(b, YSeq) and not b.flow
    assert isinstance(root, YMap)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a: 1\na: 2\n", "RM011"),
        ("a: &x 1\nb: *x\n", "RM006"),
        ("a: !!str 1\n", "RM008"),
        ("<<: {a: 1}\n", "RM010"),
        ("a: 1\n---\nb: 2\n", "RM005"),
        ("", "RM003"),
        ("- 1\n", "RM004"),
        ("a: [1\n", "RM012"),
        ("a: 1\x00\n", "RM001"),
    ],
)
def test_errors(text: str, code: str) -> None:
    with pytest.raises(LoadError) as info:
        load_yaml_text(text, "f")
    assert [d.code for d in info.value.diagnostics] == [code]


def test_undecodable_bytes() -> None:
    with pytest.raises(LoadError) as info:
        load_yaml_bytes(b"a: \xff\n", "f")
    assert info.value.diagnostics[0].code == "RM001"
