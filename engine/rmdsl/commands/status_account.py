"""`rmdsl status`: the account model's line, the distance to the trailing Maximum Loss Limit.

The engine saves account.eod_high, account.mll and account.net with the day's row
(account_state) on every fill and balance update: `to MLL` is net - mll as of that save.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rmdsl.engine.persistence import AccountStateRecord


def mll_data(day: AccountStateRecord | None) -> dict[str, Any] | None:
    """None when the ruleset sets no MLL (or before schema 8)."""
    if day is None or not day.mll:
        return None
    to_mll = None if day.net is None else day.net - day.mll
    return {"mll": day.mll, "eod_high": day.eod_high, "net": day.net, "to_mll": to_mll}


def render_mll(data: dict[str, Any] | None, money: Any) -> list[str]:
    if data is None:
        return []
    to_mll: Decimal | None = data["to_mll"]
    left = "unknown (no balance yet)" if to_mll is None else money(to_mll)
    net = "" if data["net"] is None else f", net {money(data['net'])}"
    return [
        f"to MLL          {left}{net}; MLL {money(data['mll'])} "
        f"(end-of-day high {money(data['eod_high'])})"
    ]
