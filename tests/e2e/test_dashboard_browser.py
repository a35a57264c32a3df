"""The dashboard in a real browser: headless Chromium loads the page of a daemon on the
simulated gateway, sees an enforcement appear live (server-sent events, no reload), and a
screenshot is taken at the moment the DOM shows the key elements.

`./dev test` installs the Debian package `chromium` where it can (root with apt, as on
CI); elsewhere without a browser this test is skipped, saying so.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from cdp import chromium, find_chromium
from e2ekit import StartDaemon

from rmdsl.dashboard import DashboardOptions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BROWSER = find_chromium()
SHOT_ENV = "RMDSL_DASHBOARD_SCREENSHOT"  # also keep the screenshot here (to look at it)


@pytest.mark.skipif(BROWSER is None, reason="no chromium: `./dev test` installs it as root")
async def test_the_page_shows_an_enforcement_live_in_chromium(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    assert BROWSER is not None
    live = await start_daemon(dashboard=DashboardOptions(port=0, interval_ms=100))
    assert live.daemon.dashboard is not None
    live.gw.trader_place("ES", "buy", "market", 1)  # an open position, no stop: grace runs
    async with chromium(BROWSER, tmp_path / "profile") as page:
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=1000,
            deviceScaleFactor=1,
            mobile=False,
        )
        await page.send("Page.navigate", url=live.daemon.dashboard.url)
        await page.wait_for("document.body?.dataset.updates >= 1")
        await page.wait_for("document.querySelector('[data-symbol=\"ES\"]') !== null")
        assert await page.eval("document.querySelectorAll('tr.enforcement').length") == 0
        await page.eval("window.sameDocument = true")  # gone if the page were reloaded
        live.gw.trader_place("MNQ", "buy", "market", 3)  # 3 > max_mnq 2: reduced, live
        row = "document.querySelector('tr.enforcement[data-rule=\"mnq_contracts\"]')"
        await page.wait_for(f"{row} !== null")
        dom = await page.eval(
            f"""({{
            same: window.sameDocument === true,
            outcome: {row}.dataset.outcome,
            why: {row}.nextElementSibling.textContent,
            health: document.getElementById('health').textContent,
            pnl: document.getElementById('pnl-net').textContent,
            limit: document.querySelector('.limit[data-rule="daily_realized_loss"]')?.textContent,
            grace: document.querySelector('[data-symbol="ES"] .countdown')?.textContent,
            ruleset: document.getElementById('ruleset').textContent,
            clock: document.getElementById('clock').textContent,
        }})"""
        )
        png = await page.screenshot(tmp_path / "dashboard.png")
    if os.environ.get(SHOT_ENV):
        Path(os.environ[SHOT_ENV]).write_bytes(png)
    assert dom["same"] is True  # updated by the event stream, not by a reload
    assert dom["outcome"] == "ok"
    assert "why: params.max_mnq = 2" in dom["why"]
    assert dom["health"] == "enforcing"
    assert dom["pnl"].startswith(("$", "-$"))
    assert "params.daily_loss = -$1,000.00" in dom["limit"]
    assert dom["grace"] and dom["grace"].endswith("s")  # the grace countdown of the ES position
    assert dom["ruleset"].startswith("e2e version ")
    assert dom["clock"].endswith(("CST", "CDT"))  # the daemon's clock, in the ruleset's zone
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 1000) and len(png) > 20_000  # a drawn page, not a blank
