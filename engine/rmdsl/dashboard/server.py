"""The dashboard's HTTP server: starlette routes served by uvicorn inside the daemon's loop.

GET /            the page (engine/rmdsl/web, shipped in the wheel; no build step, no CDN)
GET /api/state   the snapshot as JSON (`?account=NAME`: that account's, else the first's)
GET /events      server-sent events: a snapshot whenever it changed (at most every
                 interval_ms) and at least once a second (countdowns, `now`);
                 `?account=NAME` as for /api/state
GET /metrics     Prometheus text format
GET /healthz     200 {"running": true, "reconciled": true}, else 503 with the same body

Enforcement never waits on a page: one publisher task takes a snapshot only
while a client listens, and each client keeps just the newest one (a slow
browser skips snapshots, it never queues them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from rmdsl.dashboard import DashboardOptions
from rmdsl.dashboard.feed import DaemonFeed
from rmdsl.dashboard.fleet import accounts_of
from rmdsl.dashboard.prom import exposition_sliced, registry
from rmdsl.dashboard.snapshot import Snapshots
from rmdsl.metrics import Series

if TYPE_CHECKING:
    from rmdsl.daemon import Daemon

log = logging.getLogger("rmdsl.dashboard")
KEEPALIVE_S = 1.0
MAX_DEFERRALS = 4  # a busy engine delays a push by at most this many intervals
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
PAGES = ("index.html", "dashboard.js", "dashboard.css")


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: SIGINT/SIGTERM belong to the daemon."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Dashboard:
    def __init__(self, daemon: Daemon, feed: DaemonFeed, options: DashboardOptions) -> None:
        self.options = options
        self.feed = feed
        self.snapshots = Snapshots(daemon, feed)
        self._registry = registry(daemon, feed)
        self._clients: dict[asyncio.Queue[str], str | None] = {}  # -> the account it shows
        self._closing = asyncio.Event()
        self._server: _Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.port = 0
        self.snapshot_ms = Series(1024)  # what each snapshot cost the event loop

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.port}/"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self._page),
                Route("/static/{name}", self._static),
                Route("/api/state", self._state),
                Route("/events", self._events),
                Route("/metrics", self._metrics),
                Route("/healthz", self._healthz),
            ]
        )

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app(),
            host=self.options.host,
            port=self.options.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        # bound here, so a taken port is an OSError for the caller (uvicorn would raise
        # SystemExit inside its task, which stops the whole event loop)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.options.host, self.options.port))
        except OSError as exc:
            sock.close()
            raise OSError(
                f"cannot listen on {self.options.host}:{self.options.port}: {exc}"
            ) from exc
        self.port = sock.getsockname()[1]
        self._server = _Server(config)
        serve = asyncio.create_task(self._server.serve(sockets=[sock]), name="rmdsl-dashboard")
        self._tasks.append(serve)
        while not self._server.started and not serve.done():
            await asyncio.sleep(0.01)
        self.snapshots.text()  # parses the ruleset's limits now, not in the first page's push
        self._tasks.append(asyncio.create_task(self._publish(), name="rmdsl-dashboard-push"))
        log.warning("dashboard on %s", self.url)

    async def stop(self) -> None:
        self._closing.set()
        for queue in self._clients:
            _offer(queue, "")  # "" ends the stream
        if self._server is not None:
            self._server.should_exit = True
        tasks, self._tasks = self._tasks, []
        for task in tasks[1:]:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 3.0)

    # ---- the push loop ---------------------------------------------------------------------
    async def _publish(self) -> None:
        """A snapshot when the feed or the engine moved, at most every interval_ms, of each
        account some page shows."""
        interval = self.options.interval_ms / 1000
        sent: dict[str | None, tuple[str, float]] = {}  # account -> (last text, when)
        deferred = 0
        while True:
            await asyncio.sleep(interval)
            if not self._clients:
                continue
            if self._engine_busy() and deferred < MAX_DEFERRALS:
                deferred += 1  # events are waiting: they go first, the page a little later
                continue
            deferred = 0
            for account in set(self._clients.values()):
                try:
                    text = self._snapshot_text(account)
                except Exception:  # a page must never take the daemon down
                    log.exception("dashboard snapshot failed")
                    continue
                last_text, last_sent = sent.get(account, ("", 0.0))
                if text != last_text or time.monotonic() - last_sent >= KEEPALIVE_S:
                    sent[account] = (text, time.monotonic())
                    for queue, shown in list(self._clients.items()):
                        if shown == account:
                            _offer(queue, text)

    def _engine_busy(self) -> bool:
        views = accounts_of(self.snapshots.daemon)
        return any(v.engine is not None and v.engine.queue.depth > 0 for v in views)

    def _snapshot_text(self, account: str | None = None) -> str:
        t0 = time.perf_counter_ns()
        text = self.snapshots.text(account)
        self.snapshot_ms.add((time.perf_counter_ns() - t0) / 1e6)
        return text

    # ---- routes ------------------------------------------------------------------------------
    async def _page(self, request: Request) -> Response:
        return _file("index.html")

    async def _static(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in PAGES:
            return Response("not found", status_code=404)
        return _file(name)

    async def _state(self, request: Request) -> Response:
        text = self._snapshot_text(request.query_params.get("account"))
        return Response(text, media_type="application/json")

    async def _metrics(self, request: Request) -> Response:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        body = await exposition_sliced(self._registry, self.snapshots.daemon)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def _healthz(self, request: Request) -> Response:
        health = self.snapshots.health()
        ok = health["running"] and health["reconciled"]
        return JSONResponse(health, status_code=200 if ok else 503)

    async def _events(self, request: Request) -> Response:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        account = request.query_params.get("account")
        _offer(queue, self._snapshot_text(account))  # the page draws at once
        self._clients[queue] = account
        return StreamingResponse(
            self._stream(queue),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, queue: asyncio.Queue[str]) -> AsyncIterator[str]:
        try:
            while not self._closing.is_set():
                text = await queue.get()
                if not text:
                    break
                yield f"event: state\ndata: {text}\n\n"
        finally:
            self._clients.pop(queue, None)

    @property
    def clients(self) -> int:
        return len(self._clients)


async def serve_page(daemon: Daemon, options: DashboardOptions) -> Dashboard | None:
    """The page, /metrics and /healthz; a port that cannot be had costs the page only."""
    dashboard = Dashboard(daemon, daemon.feed, options)
    try:
        await dashboard.start()
    except OSError as exc:  # e.g. the port is taken
        await dashboard.stop()
        daemon.notifier.alert("warning", "dashboard not started", f"{exc}; enforcing anyway")
        return None
    return dashboard


def _offer(queue: asyncio.Queue[str], text: str) -> None:
    """Keep only the newest snapshot for a client."""
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()
    queue.put_nowait(text)


def _file(name: str) -> Response:
    data = (resources.files("rmdsl") / "web" / name).read_bytes()
    suffix = name[name.rfind(".") :]
    return Response(data, media_type=_TYPES[suffix], headers={"Cache-Control": "no-store"})
