"""Every enforcement, lockout and failed enforcement alerts with the rule's message, the values
that fired it and the time on the ruleset's clock with the zone named."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest
from enginekit import at, fill, harness, position, rule, ruleset

from rmdsl.daemon import TEXT_FORMAT, ZonedFormatter
from rmdsl.lang.schema import UntilKind
from rmdsl.rules.model import Action


def lockout_ruleset() -> object:
    lock = Action("lockout", {"until": UntilKind.RESET})
    return ruleset(rule("lk", lambda c: c.day.losses >= 1, (lock,)))


async def test_a_lockout_and_its_flatten_each_alert_with_the_local_time() -> None:
    h = await harness(lockout_ruleset())  # type: ignore[arg-type]
    await h.feed(position(at(1), 1), fill(1, at(2), -1))
    titles = h.notifier.titles()
    assert titles == ["lockout set", "enforced"]
    lock, close = h.notifier.alerts
    # at(2) is 2026-03-02 15:00:02 UTC: 09:00:02 on Chicago's clock, standard time
    assert lock.body.startswith("rule lk: lockout(until=reset) account at 09:00:02 CST: ")
    assert lock.fields["rule"] == "lk" and lock.fields["at"] == "09:00:02 CST"
    assert close.body.startswith("rule lk: lockout(until=reset) CON.F.US.MNQ.H26 at 09:00:02 CST")
    assert f": {h.records[0].reason}" + _values(h.records[0].shown) in lock.body
    # the reset: 17:00 Chicago, as `rmdsl status` shows it
    assert lock.body.endswith("\nuntil 2026-03-02 17:00:00 CST")
    assert "\nuntil" not in close.body  # a close of the flatten: no lockout of its own


def _values(shown: object) -> str:
    assert isinstance(shown, dict)
    return f" ({', '.join(f'{k} = {v}' for k, v in shown.items())})" if shown else ""


async def test_a_failed_enforcement_alerts_with_the_message_and_values() -> None:
    flat = Action("flatten")
    rs = ruleset(rule("loss", lambda c: c.day.losses >= 1, (flat,)))
    h = await harness(rs)
    h.broker.inject_failure("close_position", 1, "connection reset")
    await h.feed(position(at(1), 1), fill(1, at(2), -1))
    failed = [a for a in h.notifier.alerts if a.title == "enforcement failed"]
    assert len(failed) == 1
    body = failed[0].body
    assert body.startswith("rule loss: flatten CON.F.US.MNQ.H26 at 09:00:02 CST: ")
    assert h.records[0].reason in body and "\nfailed: " in body and "retrying" in body


async def test_the_log_line_carries_the_message_and_the_zoned_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Log lines say what the alert says: `enforced: rule lk: ... at 09:00:02 CST: <message>`."""
    caplog.set_level(logging.WARNING, logger="rmdsl.enforce")
    h = await harness(lockout_ruleset())  # type: ignore[arg-type]
    await h.feed(position(at(1), 1), fill(1, at(2), -1))
    lines = [r.getMessage() for r in caplog.records if r.name == "rmdsl.enforce"]
    head = "enforced: rule lk: lockout(until=reset) account at 09:00:02 CST: "
    [line] = [m for m in lines if m.startswith(head)]
    assert h.records[0].reason and h.records[0].reason in line


def test_text_log_lines_are_stamped_on_the_rulesets_clock_with_the_zone() -> None:
    record = logging.LogRecord("rmdsl", logging.INFO, "", 0, "hello", None, None)
    record.created = dt.datetime(2026, 3, 2, 15, 0, 2, tzinfo=dt.UTC).timestamp()
    record.msecs = 31
    formatter = ZonedFormatter(TEXT_FORMAT)
    formatter.zone = ZoneInfo("America/Chicago")
    assert formatter.format(record).startswith("2026-03-02 09:00:02,031 CST INFO rmdsl")
