"""`rmdsl sim`: the simulated ProjectX gateway as its own process, to rehearse on by hand.

`rmdsl sim` serves the gateway (REST + both hubs, docs/simgateway.md) on
127.0.0.1 until Ctrl-C / SIGTERM and prints, in `export` form, what points the
SDK and `rmdsl run` at it, for the trader's other terminals (docs/operations.md,
"Rehearse": `rmdsl sim > sim.env`, then `. ./sim.env` in each).
From another terminal, `rmdsl sim order|stop|close|cancel|quote|status|play`
trade on it "from the broker's UI" through its loopback-only /sim/* routes;
`rmdsl sim shell` (or `rmdsl sim --interactive`) is a prompt for the same.
Exit 0 ok, 1 an action the simulator refused, 2 usage / not running / I/O error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rmdsl.simclient import DEFAULT_PORT, ENV_URL

if TYPE_CHECKING:
    import asyncio

HELP = "run the simulated gateway to rehearse on, or trade on a running one by hand"
ACCOUNT = "PRAC-SIM-1"
USERNAME = "sim-user"
API_KEY = "sim-api-key-0123456789"


def _actions(sub: Any, port: bool = False) -> None:
    for verb, what in (("order", "place an order (market; --limit P for a limit order)"),):
        p = sub.add_parser(verb, help=what, description=what)
        p.add_argument("side", choices=("buy", "sell"))
        p.add_argument("size", help="contracts, 1 or more")
        p.add_argument("contract", metavar="SYMBOL", help="MNQ, ES, ... or a contract id")
        p.add_argument("--limit", metavar="PRICE", help="a limit order at PRICE")
    p = sub.add_parser("stop", help="place a stop order", description="place a stop order")
    p.add_argument("side", choices=("buy", "sell"))
    p.add_argument("size")
    p.add_argument("contract", metavar="SYMBOL")
    p.add_argument("price", metavar="STOP_PRICE")
    p = sub.add_parser("close", help="close a position at market (all, or --size N)")
    p.add_argument("contract", metavar="SYMBOL")
    p.add_argument("--size", metavar="N")
    p = sub.add_parser("cancel", help="cancel a working order by its id")
    p.add_argument("order_id", metavar="ID")
    p = sub.add_parser("quote", help="move the market: SYMBOL trades at PRICE")
    p.add_argument("contract", metavar="SYMBOL")
    p.add_argument("price", metavar="PRICE")
    p = sub.add_parser("status", help="positions, working orders, balance and quotes")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("play", help="play a scripted session (scenario steps, YAML or JSON)")
    p.add_argument("script", metavar="SCRIPT")
    p.add_argument("--speed", type=float, help="times faster than the script's seconds")
    sub.add_parser("shell", help="a prompt for these commands")
    if port:  # `rmdsl sim order buy 1 MNQ --port N` as well as `rmdsl sim --port N order ...`
        for action in sub.choices.values():
            action.add_argument(
                "--port", type=int, default=argparse.SUPPRESS, help="the simulator's port"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"the simulator's port on 127.0.0.1 (serving: default {DEFAULT_PORT}, 0 = any "
        f"free port; commands: default ${ENV_URL}, else {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--interactive", action="store_true", help="serve and read commands from a prompt"
    )
    _actions(parser.add_subparsers(dest="action", metavar="ACTION"), port=True)


def _parser() -> argparse.ArgumentParser:
    """The actions alone, for the prompt (a usage error there prints and carries on)."""
    parser = argparse.ArgumentParser(prog="sim>", add_help=False, exit_on_error=False)
    _actions(parser.add_subparsers(dest="action", required=True))
    return parser


def run(args: argparse.Namespace) -> int:
    from rmdsl.simclient import SimClientError, execute, shell, sim_url

    if args.action is None:
        if args.port is not None and not 0 <= args.port <= 65535:
            print(f"rmdsl sim: error: bad port {args.port}", file=sys.stderr)
            return 2
        import asyncio

        port = DEFAULT_PORT if args.port is None else args.port
        return asyncio.run(_serve(port, args.interactive))
    base = sim_url(args.port)
    try:
        if args.action == "shell":
            return shell(base, _parse_line)
        execute(base, args.action, args)
    except SimClientError as exc:
        print(f"rmdsl sim: error: {exc}", file=sys.stderr)
        return exc.code
    return 0


def _parse_line(words: Sequence[str]) -> argparse.Namespace:
    try:
        return _parser().parse_args(list(words))
    except argparse.ArgumentError as exc:
        print(f"error: {exc}", flush=True)
        raise SystemExit(2) from None


def exports(gw: Any) -> list[str]:
    """The lines `eval` reads: SDK endpoints, dummy credentials, the account, our URL."""
    env = gw.sdk_env(USERNAME, API_KEY)
    env |= {"RMDSL_ACCOUNT": ACCOUNT, ENV_URL: gw.base_url}
    return [f"export {k}={v}" for k, v in env.items()]


async def _serve(port: int, interactive: bool) -> int:
    import asyncio
    import signal

    from rmdsl.broker.simgateway import SimGateway
    from rmdsl.broker.simgateway.control import SimControl

    gw = SimGateway(port=port)
    gw.extra_routes = SimControl(gw).routes()
    try:
        await gw.start()
    except OSError as exc:
        print(
            f"rmdsl sim: error: cannot listen on 127.0.0.1:{port}: {exc.strerror}", file=sys.stderr
        )
        print(
            "help: another simulator may be running; try --port 0 (any free port)", file=sys.stderr
        )
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("\n".join(exports(gw)), flush=True)
    print(
        f"# simulated gateway on {gw.base_url}, account {ACCOUNT}; Ctrl-C to stop\n"
        "# set these in your other terminals, then `rmdsl run --ruleset FILE`;\n"
        "# trade on it with `rmdsl sim order buy 1 MNQ`, `rmdsl sim status`, ...",
        file=sys.stderr,
        flush=True,
    )
    try:
        if interactive:
            await _prompt(gw.base_url, stop)
        else:
            await stop.wait()
    finally:
        await gw.stop()
    print("# simulator stopped", file=sys.stderr, flush=True)
    return 0


async def _prompt(base: str, stop: asyncio.Event) -> None:
    """The prompt runs in a daemon thread (it blocks on input, so a SIGTERM must not wait
    for it) and talks HTTP to this server; the end of input or `quit` stops the simulator."""
    import asyncio
    import threading

    from rmdsl.simclient import shell

    loop = asyncio.get_running_loop()

    def prompt() -> None:
        shell(base, _parse_line)
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=prompt, name="rmdsl-sim-prompt", daemon=True).start()
    await stop.wait()
