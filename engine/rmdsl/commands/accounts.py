"""`--account NAME` of `rmdsl status` / `rmdsl history`: the name `rmdsl run` takes -> the id."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmdsl.store import SqliteStore


class UnknownAccount(Exception):
    """--account names no account of this database (the message lists the ones it has)."""


async def pick_account(store: SqliteStore, wanted: str | None) -> int | None:
    """The account id of `--account NAME` (an id is accepted too), else the newest one."""
    if wanted is None:
        row = await store.fetch_one(
            "SELECT account_id FROM account_state ORDER BY updated_at DESC LIMIT 1"
        )
        return None if row is None else int(row[0])
    row = await store.fetch_one(
        "SELECT account_id FROM account_state WHERE account_name = ? "
        "ORDER BY updated_at DESC LIMIT 1",
        (wanted,),
    )
    if row is not None:
        return int(row[0])
    known = await store.fetch("SELECT DISTINCT account_id, account_name FROM account_state")
    if wanted.isdigit() and any(int(r[0]) == int(wanted) for r in known):
        return int(wanted)
    names = ", ".join(sorted(str(r[1] or r[0]) for r in known)) or "none yet"
    raise UnknownAccount(f"no account named {wanted!r} in {store.path} (accounts: {names})")
