"""Order tags: unique per order (the gateway rejects a reused one), rmdsl's own known by prefix."""

from __future__ import annotations

from enginekit import MNQ, at, order

from rmdsl.contract.events import OrderEvent
from rmdsl.engine.state import AccountState
from rmdsl.engine.tags import MAX_LENGTH, is_rmdsl_tag, new_tag


def test_every_tag_is_new_and_short() -> None:
    tags = [new_tag(kind, 123456789) for kind in ("stop", "target") for _ in range(500)]
    assert len(set(tags)) == len(tags)
    assert all(len(t) < MAX_LENGTH and t.startswith("rmdsl:") for t in tags)
    assert tags[0].split(":")[:3] == ["rmdsl", "stop", "123456789"]


def test_rmdsl_tags_are_known_by_prefix_the_traders_are_not() -> None:
    assert is_rmdsl_tag(new_tag("stop", 1))
    assert is_rmdsl_tag("rmdsl:stop")  # the constant tag of earlier versions: still ours
    assert not is_rmdsl_tag(None)
    assert not is_rmdsl_tag("my-stop")
    assert not is_rmdsl_tag("RMDSL:stop")


def test_own_orders_are_known_after_a_restart() -> None:
    """A restart rebuilds the working orders from the broker's snapshot: the tag says whose."""
    st = AccountState(1)
    ours, theirs = order(1, at(0)), order(2, at(0))
    tagged = OrderEvent(
        ours.id, 1, MNQ, ours.ts, ours.status, ours.type, ours.side, 1,
        stop_price=ours.stop_price, custom_tag=new_tag("stop", 1),
    )  # fmt: skip
    st.replace_orders((tagged, theirs))
    assert [st.orders[i].by_rmdsl for i in (1, 2)] == [True, False]
