"""The trader's side of `rmdsl sim`: control commands sent to a running simulator.

`rmdsl sim order buy 2 MNQ` and the others post JSON to the simulator's
loopback-only `/sim/*` routes (rmdsl.broker.simgateway.control) and print the
answer for a person; `rmdsl sim shell` reads the same commands from a prompt.
Standard library only (urllib): a control command starts in a fraction of a second.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

DEFAULT_PORT = 18765
ENV_URL = "RMDSL_SIM_URL"
PLAY_TIMEOUT_S = 3600.0
CALL_TIMEOUT_S = 10.0


class SimClientError(Exception):
    """Shown as `rmdsl sim: error: <message>`; exit 2 (1 for a refused action)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def sim_url(port: int | None) -> str:
    """--port wins, then $RMDSL_SIM_URL (printed by `rmdsl sim`), then the default port."""
    if port is not None:
        return f"http://127.0.0.1:{port}"
    return os.environ.get(ENV_URL) or f"http://127.0.0.1:{DEFAULT_PORT}"


def call(base: str, path: str, body: Mapping[str, Any] | None = None, timeout: float = 0) -> Any:
    """POST `body` (GET without one) to the simulator; the `{"ok": true, ...}` answer."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base}/sim/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout or CALL_TIMEOUT_S) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            raise SimClientError(f"the simulator at {base} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SimClientError(
            f"no simulator answering at {base} ({reason})\n"
            "help: start one with `rmdsl sim` in another terminal (or pass its --port)"
        ) from None
    if not isinstance(answer, dict) or not answer.get("ok"):
        error = answer.get("error") if isinstance(answer, dict) else answer
        raise SimClientError(f"the simulator refused: {error}", code=1)
    return answer


def price(text: str) -> str:
    """A price as the trader typed it, checked here so a typo is a usage error."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SimClientError(f"bad price {text!r}: a number like 21010.25") from None
    if not value.is_finite() or value <= 0:
        raise SimClientError(f"bad price {text!r}: a number above 0")
    return str(value)


def size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise SimClientError(f"bad size {text!r}: a whole number of contracts, 1 or more")
    return int(text)


def describe_order(order: Mapping[str, Any]) -> str:
    extra = "".join(f" {order[k]}" for k in ("limit", "stop") if order.get(k))
    return (
        f"order #{order['id']}: {order['side']} {order['size']} {order['contract']} "
        f"{order['type']}{extra} -> {order['status']}"
    )


def describe_status(answer: Mapping[str, Any]) -> list[str]:
    out = [f"simulator time {answer['now']}"]
    for acc in answer["accounts"]:
        trade = "can trade" if acc["can_trade"] else "CANNOT trade"
        out.append(f"account {acc['name']}: balance ${acc['balance']} ({trade})")
        for p in acc["positions"]:
            side = "long" if p["size"] > 0 else "short"
            out.append(f"  position {p['contract']} {side} {abs(p['size'])} @ {p['average_price']}")
        for o in acc["orders"]:
            out.append("  working " + describe_order(o))
        if not acc["positions"] and not acc["orders"]:
            out.append("  flat, no working orders")
    quotes = ", ".join(f"{k} {v}" for k, v in answer["quotes"].items())
    out.append(f"quotes: {quotes}")
    return out


def load_script(path: Path) -> tuple[list[Any], float | None]:
    """A scenario step script (docs/simgateway.md): JSON (a list, or {"steps": [...]})
    or YAML (`steps:` and an optional `speed:`)."""
    if path.suffix.lower() == ".json":
        try:
            doc: Any = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SimClientError(f"{path}: not JSON: {exc}") from None
    else:
        doc = _load_yaml(path)
    if isinstance(doc, list):
        return doc, None
    if isinstance(doc, dict) and isinstance(doc.get("steps"), list):
        speed = doc.get("speed")
        return doc["steps"], float(speed) if isinstance(speed, int | float) else None
    raise SimClientError(f"{path}: a script is a list of steps, or a map with `steps:`")


def _load_yaml(path: Path) -> Any:
    from rmdsl.errors import DiagnosticError
    from rmdsl.lang.yaml_loader import YMap, YNode, YScalar, YSeq, load_yaml_file

    def plain(node: YNode) -> Any:
        if isinstance(node, YMap):
            return {k.text: plain(v) for k, v in node.entries}
        if isinstance(node, YSeq):
            return [plain(i) for i in node.items]
        assert isinstance(node, YScalar)
        value = node.value
        if isinstance(value, Decimal):  # JSON numbers: whole ones stay whole
            return int(value) if value == value.to_integral_value() else float(value)
        return value

    try:
        root, _source = load_yaml_file(path)
    except DiagnosticError as exc:
        raise SimClientError(f"{path}: not a YAML script: {exc}") from None
    return plain(root)


Printer = Callable[[str], None]


def execute(base: str, action: str, args: Any, out: Printer = print) -> None:
    """One control command (the parsed arguments of `rmdsl sim ACTION ...`)."""
    if action == "status":
        answer = call(base, "status")
        if getattr(args, "json", False):
            out(json.dumps(answer, indent=2))
        else:
            for line in describe_status(answer):
                out(line)
    elif action in ("order", "stop"):
        body: dict[str, Any] = {
            "side": args.side,
            "size": size(args.size),
            "contract": args.contract,
            "type": "market",
        }
        if action == "stop":
            body |= {"type": "stop", "stop": price(args.price)}
        elif args.limit is not None:
            body |= {"type": "limit", "limit": price(args.limit)}
        out(describe_order(call(base, "order", body)["order"]))
    elif action == "close":
        body = {"contract": args.contract}
        if args.size is not None:
            body["size"] = size(args.size)
        out("closing " + describe_order(call(base, "close", body)["order"]))
    elif action == "cancel":
        call(base, "cancel", {"order": size(args.order_id)})
        out(f"order #{args.order_id} cancelled")
    elif action == "quote":
        q = call(base, "quote", {"contract": args.contract, "price": price(args.price)})
        out(f"{args.contract.upper()} last {q['last']} (bid {q['bid']}, ask {q['ask']})")
    elif action == "play":
        steps, speed = load_script(Path(args.script))
        body = {"steps": steps, "speed": args.speed or speed or 1.0}
        answer = call(base, "play", body, timeout=PLAY_TIMEOUT_S)
        out(f"played {answer['steps']} step(s)")
        for error in answer["errors"]:
            out(f"  the gateway refused: {error}")


def shell(base: str, parse: Callable[[Sequence[str]], Any], stdin: Any = None) -> int:
    """A prompt: each line is a control command without `rmdsl sim` (`help`, `quit`)."""
    stdin = stdin or sys.stdin
    interactive = stdin.isatty()
    while True:
        if interactive:
            print("sim> ", end="", flush=True)
        line = stdin.readline()
        if not line or line.strip() in ("quit", "exit"):
            return 0
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "help":
            print("order buy|sell SIZE SYMBOL [--limit P] | stop buy|sell SIZE SYMBOL PRICE |")
            print("close SYMBOL [--size N] | cancel ID | quote SYMBOL PRICE | status | play FILE")
            continue
        try:
            args = parse(words)
            execute(base, args.action, args)
        except SimClientError as exc:
            print(f"error: {exc}", flush=True)
        except SystemExit:  # argparse printed the usage error
            continue
