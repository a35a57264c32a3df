"""The daemon's dashboard over HTTP, against a daemon on the simulated gateway: the live
snapshot pushed by server-sent events, /metrics, /healthz and the last reload's result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2ekit import RULES, Live, StartDaemon, wait_until

from rmdsl.dashboard import DashboardOptions

pytestmark = pytest.mark.e2e
FAST = DashboardOptions(port=0, interval_ms=50)


def url(live: Live, path: str) -> str:
    assert live.daemon.dashboard is not None
    return live.daemon.dashboard.url.rstrip("/") + path


async def events(client: httpx.AsyncClient, live: Live) -> AsyncIterator[dict[str, Any]]:
    """The snapshots of /events, parsed, as the browser's EventSource receives them."""
    async with client.stream("GET", url(live, "/events")) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                yield json.loads(line.removeprefix("data: "))


async def test_an_enforcement_reaches_an_open_page_live(start_daemon: StartDaemon) -> None:
    live = await start_daemon(dashboard=FAST)
    async with httpx.AsyncClient(timeout=10) as client:
        stream = events(client, live)
        first = await anext(stream)
        assert first["history"] == [] and first["health"]["reconciled"] is True
        assert first["ruleset"]["name"] == "e2e"
        [limit] = first["limits"]  # day.realized_pnl <= params.daily_loss
        assert (limit["rule"], limit["param"], limit["limit"]["text"]) == (
            "daily_realized_loss",
            "daily_loss",
            "-$1,000.00",
        )
        live.gw.trader_place("MNQ", "buy", "market", 3)  # 3 > max_mnq 2: reduced to 2
        async with asyncio.timeout(10):
            async for snap in stream:
                if any(r["rule"] == "mnq_contracts" for r in snap["history"]):
                    break
        await stream.aclose()
    [record] = [r for r in snap["history"] if r["rule"] == "mnq_contracts"]
    assert record["outcome"] == "ok" and record["action"] == "reduce_position(to=2)"
    assert record["why"]["params.max_mnq"] == "2"
    dashboard = live.daemon.dashboard
    assert dashboard is not None
    await wait_until(lambda: dashboard.clients == 0, what="the closed page forgotten")


async def test_metrics_and_healthz(start_daemon: StartDaemon) -> None:
    live = await start_daemon(dashboard=FAST)
    live.gw.trader_place("MNQ", "buy", "market", 3)
    await live.wait_for_record("mnq_contracts", outcome="ok")
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url(live, "/metrics"))).text
        health = await client.get(url(live, "/healthz"))
        assert (health.status_code, health.json()["reconciled"]) == (200, True)
        live.daemon.reconciler.unreconciled()  # what a disconnect does
        health = await client.get(url(live, "/healthz"))
        assert health.status_code == 503
        assert health.json()["reconciled"] is False and health.json()["running"] is True
    for name in (
        "rmdsl_enforcement_latency_ms",
        "rmdsl_event_processing_ms",
        "rmdsl_rss_mb",
        "rmdsl_reconciliation_ms",
        "rmdsl_queue_depth_seen",
        "rmdsl_rule_evaluation_ms",
        "rmdsl_reconnects_total",
        "rmdsl_queue_depth",
    ):
        assert f"\n{name}" in text, name
    # per account, labelled with its name, and the fleet's totals beside
    assert (
        'rmdsl_enforcements_total{account="PRAC-SIM-1",outcome="ok",rule="mnq_contracts"} 1.0'
        in text
    )
    assert 'rmdsl_fleet_enforcements_total{outcome="ok"} 1.0' in text
    assert "rmdsl_fleet_accounts 1.0" in text and "rmdsl_fleet_accounts_reconciled 1.0" in text
    info = f'account_id="{live.gw.account_id}",ruleset="e2e"'
    assert f'rmdsl_account_info{{account="PRAC-SIM-1",{info}}} 1.0' in text
    assert 'rmdsl_account_enforcement_latency_ms{account="PRAC-SIM-1",quantile="1"}' in text
    for measured in ("rmdsl_enforcement_latency_ms", "rmdsl_event_processing_ms"):
        # the reduce was measured: the series carry samples, not only their names
        [count] = [ln for ln in text.splitlines() if ln.startswith(f"{measured}_samples_total")]
        assert float(count.split()[-1]) >= 1, count
        assert f'{measured}{{quantile="0.5"}}' in text
    assert 'rmdsl_firings_total{account="PRAC-SIM-1",rule="mnq_contracts"} 1.0' in text
    assert 'rmdsl_lockouts_active{account="PRAC-SIM-1",kind="lockout"} 0.0' in text
    assert 'rmdsl_reconciled{account="PRAC-SIM-1"} 1.0' in text
    assert 'rmdsl_goals_overdue{account="PRAC-SIM-1"} 0.0' in text


async def test_a_refused_reload_shows_its_errors_until_a_good_save(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(f"rmdsl: 1\nname: mine\nextends: {RULES}\n", encoding="utf-8")
    live = await start_daemon(path, reload=True, dashboard=FAST)
    watcher = live.daemon.watcher
    await asyncio.wait_for(watcher.ready.wait(), 5)
    async with httpx.AsyncClient(timeout=10) as client:

        async def reload() -> dict[str, Any] | None:
            state = (await client.get(url(live, "/api/state"))).json()
            return state["reload"]  # type: ignore[no-any-return]

        assert await reload() is None
        path.write_text(path.read_text() + "rules:\n  nope:\n    when: day.nonsense > 1\n")
        await wait_until(lambda: live.daemon.feed.reload is not None, 10, "the refusal")
        refused = await reload()
        assert refused is not None and refused["ok"] is False
        assert any("day.nonsense" in line for line in refused["errors"]), refused
        path.write_text(f"rmdsl: 1\nname: mine\nextends: {RULES}\nparams:\n  max_mnq: 1\n")
        await wait_until(
            lambda: live.daemon.feed.reload is not None and live.daemon.feed.reload.ok, 10
        )
        accepted = await reload()
        state = (await client.get(url(live, "/api/state"))).json()
    assert accepted is not None and accepted["ok"] is True and accepted["errors"] == []
    assert accepted["version"] == state["ruleset"]["version"]


async def test_no_dashboard_unless_asked_and_a_taken_port_costs_only_the_page(
    start_daemon: StartDaemon,
) -> None:
    plain = await start_daemon()
    assert plain.daemon.dashboard is None
    first = await start_daemon(dashboard=FAST)
    assert first.daemon.dashboard is not None
    taken = DashboardOptions(port=first.daemon.dashboard.port)
    second = await start_daemon(dashboard=taken)
    assert second.daemon.dashboard is None and second.daemon.engine is not None
    assert "dashboard not started" in second.notifier.titles()


async def test_a_reconnect_is_counted_and_healthz_follows_the_reconcile(
    start_daemon: StartDaemon,
) -> None:
    live = await start_daemon(dashboard=FAST)
    daemon = live.daemon
    assert daemon.feed.reconnects == 0  # the first connection is not a reconnect
    await live.gw.drop_connections()
    await wait_until(lambda: len(daemon.reconcile_ms) == 2, timeout=15, what="the reconcile")
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url(live, "/metrics"))).text
        health = await client.get(url(live, "/healthz"))
    assert "rmdsl_reconnects_total 1.0" in text
    assert health.status_code == 200


async def test_metrics_show_the_lockout_while_it_holds(start_daemon: StartDaemon) -> None:
    """Lockout state in /metrics: an account lockout is `1`, counted by kind, beside its firing."""
    live = await start_daemon(dashboard=FAST)
    live.gw.trader_place("ES", "buy", "market", 1)
    live.gw.trader_place("ES", "sell", "stop", 1, stop_price=5979)
    live.gw.set_quote("ES", 5979)  # the stop fills: -$1,050 and fees, past -$1,000
    await live.wait_for_record("daily_realized_loss", outcome="ok")
    engine = live.daemon.engine
    assert engine is not None
    await wait_until(lambda: engine.lockouts.account_locked, what="the account lockout")
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url(live, "/metrics"))).text
    assert 'rmdsl_account_locked{account="PRAC-SIM-1"} 1.0' in text
    assert "rmdsl_fleet_accounts_locked 1.0" in text
    assert 'rmdsl_lockouts_active{account="PRAC-SIM-1",kind="lockout"} 1.0' in text
    assert 'rmdsl_firings_total{account="PRAC-SIM-1",rule="daily_realized_loss"} 1.0' in text
    # the day's loss, as a number Prometheus can compare (-$1,050 and fees)
    [pnl] = [ln for ln in text.splitlines() if ln.startswith("rmdsl_day_realized_pnl{")]
    assert float(pnl.split()[-1]) < -1000, pnl
