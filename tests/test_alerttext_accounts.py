"""Alerts of a daemon with several accounts: each names its account, and the rate limiter
keeps one account's alerts from holding back another's."""

from __future__ import annotations

from rmdsl.alerttext import for_account
from rmdsl.notify import CollectingNotifier, RateLimitedNotifier


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def test_each_alert_names_its_account_in_the_title_and_the_fields() -> None:
    sink = CollectingNotifier()
    for_account(sink, "TOPX-7").alert("critical", "enforced", "rule r: close X", {"rule": "r"})
    [alert] = sink.alerts
    assert alert.title == "[TOPX-7] enforced"
    assert alert.fields == {"account": "TOPX-7", "rule": "r"}


def test_the_same_alert_on_two_accounts_is_two_alerts() -> None:
    sink = CollectingNotifier()
    limited = RateLimitedNotifier(sink, 60.0, clock=Clock())
    fields = {"rule": "daily_loss", "action": "flatten", "target": ""}
    for name in ("TOPX-7", "TOPX-8", "TOPX-7"):
        for_account(limited, name).alert("critical", "enforced", "flatten", fields)
    assert [a.fields["account"] for a in sink.alerts] == ["TOPX-7", "TOPX-8"]
    assert limited.suppressed == 1  # TOPX-7's repeat within the window


def test_a_rulesets_own_alerts_of_other_texts_still_go_through_named() -> None:
    sink = CollectingNotifier()
    limited = RateLimitedNotifier(sink, 60.0, clock=Clock())
    account = for_account(limited, "TOPX-7")
    account.alert("warning", "rule big_size", "MNQ: 4 contracts", {"rule": "big_size"})
    account.alert("warning", "rule big_size", "ES: 3 contracts", {"rule": "big_size"})
    account.alert("warning", "rule big_size", "ES: 3 contracts", {"rule": "big_size"})
    assert [a.body for a in sink.alerts] == ["MNQ: 4 contracts", "ES: 3 contracts"]
