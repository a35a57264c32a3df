"""AppriseNotifier: enqueue only, bounded retries, a timeout per attempt, the oldest dropped
when full (the webhook end to end: tests/e2e/test_alerts_e2e.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rmdsl.alerting import AppriseNotifier, FanoutNotifier, _safe, invalid_urls
from rmdsl.notify import CollectingNotifier


class FakeService:
    def __init__(self, answers: list[bool | None]) -> None:
        self.answers = answers  # None: hang
        self.calls: list[tuple[str, str, str, str]] = []

    async def send(self, url: str, title: str, body: str, severity: str) -> bool:
        self.calls.append((url, title, body, severity))
        answer = self.answers.pop(0) if self.answers else True
        if answer is None:
            await asyncio.Event().wait()
        return bool(answer)


async def test_alert_only_enqueues_and_a_failing_url_is_retried_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeService([False] * 10)
    phone = AppriseNotifier(["ntfy://topic"], retries=2, pause_s=0, send=fake.send)
    phone.alert("critical", "enforced", "rule x: flatten")
    assert fake.calls == []  # nothing was sent inside alert()
    await asyncio.wait_for(_until(lambda: phone.failed == 1), 5)
    assert len(fake.calls) == 3 and phone.delivered == 0
    assert "not delivered after 3 attempts" in caplog.text
    await phone.aclose(0)


async def test_a_hanging_attempt_times_out_and_the_retry_delivers() -> None:
    fake = FakeService([None, True])
    phone = AppriseNotifier(["json://h/x"], retries=1, pause_s=0, timeout_s=0.05, send=fake.send)
    phone.alert("warning", "t", "b", {"metric": "enforcement_latency_ms"})
    await asyncio.wait_for(_until(lambda: phone.delivered == 1), 5)
    assert [c[1:] for c in fake.calls] == [
        ("rmdsl: t", "b\nmetric=enforcement_latency_ms", "warning")
    ] * 2
    await phone.aclose(0)


async def test_a_full_queue_drops_the_oldest_alert(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeService([None])  # the first one hangs: the rest wait in the queue
    phone = AppriseNotifier(["json://h/x"], queue_size=2, timeout_s=0.2, retries=0, send=fake.send)
    for n in range(4):
        phone.alert("info", f"a{n}", "b")
        await asyncio.sleep(0)
    assert phone.dropped == 1 and "the oldest alert was dropped" in caplog.text
    await asyncio.wait_for(_until(lambda: phone.delivered == 2), 5)
    assert [c[1] for c in fake.calls] == ["rmdsl: a0", "rmdsl: a2", "rmdsl: a3"]
    await phone.aclose(0)


async def test_fanout_survives_a_broken_notifier(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def alert(self, *_: object) -> None:
            raise RuntimeError("boom")

    kept = CollectingNotifier()
    FanoutNotifier(Broken(), kept).alert("info", "t", "b")
    assert kept.titles() == ["t"]
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_urls_in_logs_keep_their_tokens_out() -> None:
    assert _safe("tgram://123456:SECRET/987") == "tgram://..."
    assert _safe("discord://id/TOKEN") == "discord://..."
    assert _safe("mailtos://user:pass@mail.example/") == "mailtos://mail.example..."
    assert _safe("json://127.0.0.1:8080/hook") == "json://127.0.0.1:8080..."


def test_invalid_urls_are_named() -> None:
    assert invalid_urls(["json://127.0.0.1:9/x", "nope://x"]) == ["nope://x"]


async def _until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await asyncio.sleep(0.005)
