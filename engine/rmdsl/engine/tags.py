"""The customTag of every order rmdsl places: unique, and recognisable as rmdsl's by its prefix.

The gateway rejects an order whose customTag the account used before, the tags
of rejected orders included (docs/simgateway.md, "Order tags"), so a constant
tag would get the second protective stop of an account's life rejected. A tag
is `rmdsl:<kind>:<account>:<epoch ms>:<counter>`: the wall-clock milliseconds
keep it unique across restarts (one daemon per account: the lock), the
counter within one millisecond. rmdsl's own orders are known by the prefix
alone, so they are still known after a restart (docs/broker.md, "Order tags").
"""

from __future__ import annotations

import itertools
import time

PREFIX = "rmdsl:"
# no gateway source documents a length limit; rmdsl's tags stay well under 50 characters
MAX_LENGTH = 50
_counter = itertools.count(1)


def new_tag(kind: str, account_id: int) -> str:
    """A tag never used before by this process, nor (by its wall-clock ms) by an earlier one."""
    return f"{PREFIX}{kind}:{account_id}:{time.time_ns() // 1_000_000}:{next(_counter)}"


def is_rmdsl_tag(tag: str | None) -> bool:
    """The order was placed by rmdsl (the one place that says how an own order is known)."""
    return tag is not None and tag.startswith(PREFIX)
