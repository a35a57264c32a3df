"""docs/language.md is generated from the schema; the committed file must be current."""

from __future__ import annotations

from rmdsl.docs_gen import DOC_PATH, language_md
from rmdsl.lang.schema import ACTIONS, NAMES


def test_language_md_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == language_md(), (
        "docs/language.md is stale: run `.venv/bin/python -m rmdsl.docs_gen`"
    )


def test_language_md_lists_every_name_and_action() -> None:
    text = language_md()
    assert all(f"`{name}`" in text for name in NAMES)
    assert all(f"`{name}" in text for name in ACTIONS)


def test_json_schema_covers_every_key() -> None:
    from rmdsl.docs_gen import json_schema
    from rmdsl.rules.document import RULE_KEYS, TOP_KEYS

    schema = json_schema()
    props = schema["properties"]
    assert isinstance(props, dict) and set(props) == set(TOP_KEYS)
    rule = props["rules"]["patternProperties"]["^[a-z][a-z0-9_]*$"]
    assert set(rule["properties"]) == set(RULE_KEYS)


def test_written_tables_describe_every_key() -> None:
    """The hand-written key tables grow with the schema: a new key must get a row."""
    from rmdsl.rules.document import RULE_KEYS, TOP_KEYS

    text = DOC_PATH.read_text(encoding="utf-8")
    missing = [k for k in (*TOP_KEYS, *RULE_KEYS) if f"\n| `{k}` |" not in text]
    assert not missing, f"docs/language.md has no row for {missing}"


def test_generated_blocks_are_replaced_not_appended() -> None:
    stale = DOC_PATH.read_text(encoding="utf-8").replace("| `account.id` |", "| `account.idx` |")
    assert language_md(stale) == language_md()
