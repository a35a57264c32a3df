"""Alerts to the trader's phone through apprise (Discord, Telegram, Slack, ntfy, e-mail, ...).

`alert()` is called on the enforcement path, so it only enqueues: no I/O, no
await. One background task per URL delivers the queued alerts in order, each
attempt bounded by a timeout, a failed one retried a bounded number of times
with a growing pause, and what still fails is logged. A hanging or failing
service therefore never delays a close, and never holds up another URL. When
a queue is full the oldest alert is dropped (and logged): the newest says the
most about now. docs/operations.md, "Alerts".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rmdsl.notify import Notifier

log = logging.getLogger("rmdsl.alert.deliver")

QUEUE_SIZE = 256  # alerts waiting per URL before the oldest is dropped
RETRIES = 3  # attempts after the first failed one
TIMEOUT_S = 10.0  # one delivery attempt
PAUSE_S = 1.0  # before the first retry; doubled for each next one
DRAIN_S = 2.0  # at shutdown: how long the queued alerts may still take

# (url, title, body, severity) -> delivered
Send = Callable[[str, str, str, str], Awaitable[bool]]


def load_apprise() -> Any:
    """Import apprise and its plugins now (not on the first alert), quietly: a plugin imports
    the `imghdr` module, deprecated in Python 3.12, which warns once on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        from apprise.manager_plugins import NotificationManager

        NotificationManager().load_modules()  # type: ignore[no-untyped-call]
    return apprise


def invalid_urls(urls: Sequence[str]) -> list[str]:
    """The URLs apprise cannot make a service of (an unknown scheme, a missing token)."""
    apprise = load_apprise()
    return [u for u in urls if apprise.Apprise.instantiate(u) is None]


def apprise_sender(timeout_s: float = TIMEOUT_S) -> Send:
    """Deliver with apprise's async API (its plugins' blocking HTTP runs in its own threads)."""
    apprise = load_apprise()
    kinds = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING}
    services: dict[str, Any] = {}

    async def send(url: str, title: str, body: str, severity: str) -> bool:
        service = services.get(url)
        if service is None:
            service = services[url] = apprise.Apprise()
            if not service.add(url):
                raise ValueError("apprise does not know this URL")
        kind = kinds.get(severity, apprise.NotifyType.FAILURE)
        result = await service.async_notify(
            title=title, body=body, notify_type=kind, timeout=timeout_s
        )
        return bool(result)

    return send


@dataclass(frozen=True, slots=True)
class _Item:
    title: str
    body: str
    severity: str


class _Sink:
    """One URL: its queue and the task that empties it."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(size)
        self.task: asyncio.Task[None] | None = None

    def put(self, item: _Item) -> bool:
        """Enqueue; False when the oldest alert had to be dropped to make room."""
        dropped = False
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
            dropped = True
        self.queue.put_nowait(item)
        return not dropped


class AppriseNotifier:
    """A Notifier that hands each alert to every URL's background sender (module docstring)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        retries: int = RETRIES,
        timeout_s: float = TIMEOUT_S,
        pause_s: float = PAUSE_S,
        queue_size: int = QUEUE_SIZE,
        send: Send | None = None,
    ) -> None:
        self.retries, self.timeout_s, self.pause_s = retries, timeout_s, pause_s
        self._send = send or apprise_sender(timeout_s)
        self._sinks = [_Sink(u, queue_size) for u in urls]
        self.delivered = 0  # alert x URL, for tests and metrics
        self.failed = 0  # given up after every retry
        self.dropped = 0  # pushed out of a full queue

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self._sinks]

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        item = _Item(f"rmdsl: {title}", _with_fields(body, fields), severity)
        for sink in self._sinks:
            if not sink.put(item):
                self.dropped += 1
                log.error("alert queue for %s full: the oldest alert was dropped", _safe(sink.url))
            self._ensure_running(sink)

    def _ensure_running(self, sink: _Sink) -> None:
        if sink.task is not None and not sink.task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (a command's set-up): started by the next alert in the loop
        sink.task = loop.create_task(self._drain(sink), name="rmdsl-alerts")

    async def _drain(self, sink: _Sink) -> None:
        while True:
            item = await sink.queue.get()
            try:
                await self._deliver(sink.url, item)
            finally:
                sink.queue.task_done()

    async def _deliver(self, url: str, item: _Item) -> None:
        """One alert to one URL: the first attempt and at most `retries` more."""
        for attempt in range(1, self.retries + 2):
            error = await self._attempt(url, item)
            if error is None:
                self.delivered += 1
                if attempt > 1:
                    log.info(
                        "alert %r delivered to %s on attempt %d", item.title, _safe(url), attempt
                    )
                return
            if attempt > self.retries:
                break
            log.warning(
                "alert %r to %s failed (attempt %d: %s); retrying",
                item.title,
                _safe(url),
                attempt,
                error,
            )
            await asyncio.sleep(self.pause_s * 2 ** (attempt - 1))
        self.failed += 1
        log.error(
            "alert %r to %s not delivered after %d attempts (%s): %s",
            item.title,
            _safe(url),
            self.retries + 1,
            error,
            item.body.splitlines()[0] if item.body else "",
        )

    async def _attempt(self, url: str, item: _Item) -> str | None:
        """None when delivered, else why not."""
        try:
            ok = await asyncio.wait_for(
                self._send(url, item.title, item.body, item.severity), self.timeout_s
            )
        except TimeoutError:
            return f"no answer within {self.timeout_s:g} s"
        except Exception as exc:  # a plugin's bug must not end the sender
            return f"{type(exc).__name__}: {exc}"
        return None if ok else "the service refused it"

    async def aclose(self, drain_s: float = DRAIN_S) -> None:
        """At shutdown: let the queued alerts go out for at most `drain_s`, then stop."""
        tasks = [s.task for s in self._sinks if s.task is not None]
        pending = [s.queue.join() for s in self._sinks if s.task is not None]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), drain_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sink in self._sinks:
            sink.task = None


class FanoutNotifier:
    """Every alert to each of several notifiers (the log and the phone)."""

    def __init__(self, *notifiers: Notifier) -> None:
        self.notifiers = notifiers

    def alert(
        self, severity: str, title: str, body: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        for notifier in self.notifiers:
            try:
                notifier.alert(severity, title, body, fields)
            except Exception:  # one sink's bug must not cost the others their alert
                log.exception("notifier %s failed", type(notifier).__name__)


def _with_fields(body: str, fields: Mapping[str, Any] | None) -> str:
    """The body, plus the fields it does not already show (a metric's name, a path)."""
    extra = [f"{k}={v}" for k, v in (fields or {}).items() if str(v) not in body]
    return f"{body}\n{' '.join(extra)}" if extra else body


def _safe(url: str) -> str:
    """The URL's scheme, and its host when it is one (has a dot): the rest often holds a token,
    even the "host" part (tgram://BOT_TOKEN/CHAT_ID, discord://WEBHOOK_ID/TOKEN)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host if '.' in host else ''}..."
