"""`rmdsl run --config` as a subprocess, as a service runs it: every setting from rmdsl.toml,
the credentials from a private file, alerts to a webhook on 127.0.0.1, SIGTERM -> exit 0."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from test_run import RMDSL, run_env, stopped, wait_for

from rmdsl.broker.simgateway import SimGateway

RULESET = """\
rmdsl: 1
name: run-config
timezone: America/Chicago
params:
  max_mnq: 2
rules:
  mnq_contracts:
    scope: symbol
    when: symbol == "MNQ" and contracts(symbol) > params.max_mnq
    do: [reduce_position(to: params.max_mnq)]
    message: "MNQ over {params.max_mnq} contracts"
"""


@pytest.fixture
async def gw() -> AsyncIterator[SimGateway]:
    async with SimGateway() as gateway:
        yield gateway


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"json://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


def write_config(tmp_path: Path, gw: SimGateway, url: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULESET, encoding="utf-8")
    env = gw.sdk_env()
    creds = tmp_path / "credentials"
    creds.write_text(
        f"PROJECT_X_API_KEY={env['PROJECT_X_API_KEY']}\n"
        f"PROJECT_X_USERNAME={env['PROJECT_X_USERNAME']}\n",
        encoding="utf-8",
    )
    creds.chmod(0o600)
    config = tmp_path / "rmdsl.toml"
    config.write_text(
        f'account = "PRAC-SIM-1"\n'
        f'ruleset = "{tmp_path / "rules.yaml"}"\n'
        f'state = "{tmp_path / "state.db"}"\n'
        f'lock_dir = "{tmp_path / "locks"}"\n'
        f'credentials_file = "{creds}"\n'
        f'alert_urls = ["{url}"]\n'
        "reload = false\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.e2e
@pytest.mark.slow
async def test_run_with_only_a_config_file_enforces_and_alerts_the_webhook(
    gw: SimGateway, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    config = write_config(tmp_path, gw, url)
    env = {k: v for k, v in run_env(gw).items() if not k.startswith("PROJECT_X_")}
    proc = await asyncio.create_subprocess_exec(
        *RMDSL, "run", "--config", str(config), env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await wait_for(lambda: gw.requests.calls("/Trade/search"), 20, "the daemon to start")
        await asyncio.sleep(0.3)
        gw.trader_place("MNQ", "buy", "market", 3)
        await wait_for(lambda: gw.position_size("MNQ") == 2, 10, "MNQ reduced to 2")
        await wait_for(
            lambda: any(a["title"] == "rmdsl: enforced" for a in received), 10, "the alert"
        )
    finally:
        _, _, log = await stopped(proc)
    assert proc.returncode == 0, log
    # one "enforced" (a loaded machine may add a metric alert, e.g. a slow enforcement)
    (alert,) = [a for a in received if a["title"] == "rmdsl: enforced"]
    assert re.search(r"at \d\d:\d\d:\d\d C[SD]T: MNQ over 2 contracts \(", alert["message"])
    # text log lines: stamped on the ruleset's clock with the zone, the rule's message in them
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} C[SD]T WARNING rmdsl.enforce: enforced: "
    assert re.search(stamp + r"rule mnq_contracts: .*MNQ over 2 contracts", log, re.M), log
