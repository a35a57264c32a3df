"""Real SDK + simulated gateway round trip: fill pushed (t0) -> close request received (t1).

The floor under rmdsl's enforcement latency (docs/decisions.md Q11): a client
that closes on the first GatewayUserTrade it sees, with no rule engine.
Run: .venv/bin/python benchmarks/sim_gateway_roundtrip.py [samples]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from typing import Any

from project_x_py import EventBus, PositionManager, ProjectX
from project_x_py.config import ConfigManager
from project_x_py.realtime import ProjectXRealtimeClient

from rmdsl.broker.simgateway import SimGateway

MNQ = "CON.F.US.MNQ.Z25"


async def measure(samples: int) -> list[float]:
    async with SimGateway(rate_limits=False) as gw:  # 100s of closes in seconds: no 429s
        os.environ.update(gw.sdk_env())
        config = ConfigManager().load_config()
        async with ProjectX.from_env(config=config) as client:
            await client.authenticate()
            positions = PositionManager(client, EventBus())
            rt = ProjectXRealtimeClient(
                client.get_session_token(), str(client.get_account_info().id), config=config
            )
            fills: asyncio.Queue[Any] = asyncio.Queue()

            async def on_trade(data: Any) -> None:
                if data["data"]["profitAndLoss"] is None:  # opening fill: flatten it
                    await positions.close_position_direct(MNQ)
                await fills.put(data)

            await rt.add_callback("trade_execution", on_trade)
            await rt.connect()
            await rt.subscribe_user_updates()
            await gw.wait_for_subscription("user", "SubscribeTrades")
            latencies = []
            try:
                for i in range(samples):
                    gw.trader_place("MNQ", "buy")
                    trades = [p for p in gw.pushes if p.target == "GatewayUserTrade"]
                    t0 = trades[-1].sent_ns
                    t1 = (
                        await gw.requests.wait_for("/Position/closeContract", count=i + 1)
                    ).received_ns
                    latencies.append((t1 - t0) / 1e6)
                    await fills.get()
                    await fills.get()
            finally:
                await rt.cleanup()
            return latencies


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    ms = sorted(asyncio.run(measure(samples)))
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"fill pushed -> close received, {len(ms)} samples (ms):")
    print(f"  p50 {statistics.median(ms):.2f}  p95 {p95:.2f}  max {ms[-1]:.2f}")


if __name__ == "__main__":
    main()
