"""`rmdsl demo` as a subprocess (no TTY): exit 0, the summary names every rule the script breaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from rmdsl.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One demo run (its output and kept state database) for the tests of this module."""
    state = tmp_path_factory.mktemp("demo") / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "PROJECTX"))}
    done = subprocess.run(
        [sys.executable, "-m", "rmdsl", "demo", "--speed", "30", "--json", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    return done, state


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_enforces_the_scripted_breaches(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, state = demo
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["ok"] is True
    assert summary["missing"] == []
    fired = set(summary["rules_fired"])
    assert {"no_stop_loss_grace", "daily_realized_loss"} <= fired
    assert fired & {"max_contracts_per_instrument", "max_contracts"}
    closes = [
        e
        for e in summary["enforcements"]
        if e["action"] == "close_position" and e["outcome"] == "ok"
    ]
    assert len(closes) >= 2
    assert all(e["latency_ms"] is not None for e in closes)
    assert not [e for e in summary["enforcements"] if e["outcome"] == "failed"]
    # the live lines and the table went to stderr, as plain text without a terminal
    assert "enforcement summary" in done.stderr
    assert "\x1b[" not in done.stderr
    assert state.exists(), "--state keeps the database for `rmdsl status`"
    # ES goes through the gateway's own id for it, as on a real account
    targets = {e["target"] for e in summary["enforcements"]}
    assert "CON.F.US.EP.Z25" in targets and not any(".ES." in t for t in targets)
    assert "net -$" in done.stderr and "fees $1.40" in done.stderr  # each fill's line


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_pnl_is_net_and_adds_up_to_the_cent(
    demo: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    """rmdsl's day = sum(gross profitAndLoss) - sum(fees of every fill) of the gateway's own
    fills = the change of the gateway's balance, to the cent."""
    done, _ = demo
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    pnl = summary["pnl"]
    fills = pnl["gateway_fills"]
    gross = sum(D(str(f["profitAndLoss"])) for f in fills if f["profitAndLoss"] is not None)
    fees = sum(D(str(f["fees"])) for f in fills)
    assert fees > 0 and any(f["profitAndLoss"] is None and f["fees"] > 0 for f in fills)
    assert D(pnl["rmdsl"]["net"]) == gross - fees == D(pnl["balance_change"])
    assert (D(pnl["rmdsl"]["gross"]), D(pnl["rmdsl"]["fees"])) == (gross, fees)
    assert pnl["rmdsl"]["fills"] == len(fills)
    assert pnl["adds_up"] is True and summary["ok"] is True
    # the daily loss limit judged net money: fees of every fill already in its figure
    lockout = next(e for e in summary["enforcements"] if e["rule"] == "daily_realized_loss")
    assert D(lockout["values"]["day.realized_pnl"]) < D(pnl["rmdsl"]["gross"])


def test_demo_refuses_an_existing_state_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    state.write_text("")
    assert main(["demo", "--state", str(state)]) == 2
    assert "exists" in capsys.readouterr().err


def test_demo_refuses_a_silly_speed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--speed", "0"]) == 2
    assert "--speed" in capsys.readouterr().err


GRACE_ONLY = """\
rmdsl: 1
name: grace-only
rules:
  no_stop_loss_grace:
    grace: 1m
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_with_a_ruleset_lacking_the_storys_rules_says_why(tmp_path: Path) -> None:
    ruleset = tmp_path / "mine.yaml"
    ruleset.write_text(GRACE_ONLY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROJECT_X", "PROJECTX"))}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "rmdsl", "demo"),
            *("--ruleset", str(ruleset), "--speed", "40", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    # every breach it could not enforce lacks its rule: not a failure of this ruleset
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rules_fired"] == ["no_stop_loss_grace"]
    why = {n["what"]: n["why"] for n in summary["not_enforced"]}
    assert why["too many contracts -> reduced"] == (
        "the ruleset has no rule max_contracts_per_instrument or max_contracts"
    )
    assert why["daily loss limit -> locked out"] == "the ruleset has no rule daily_realized_loss"
    assert why["trade during the lockout -> closed"] == (
        "nothing locked the account out earlier in the story"
    )
    assert "no stop loss for 2m -> closed" not in why  # enforced by the trader's grace rule
    assert not any(n["failure"] for n in summary["not_enforced"])
    assert "ruleset grace-only" in done.stderr
    assert "not enforced: daily loss limit -> locked out: the ruleset has no rule" in done.stderr


def test_demo_with_an_invalid_ruleset_prints_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rmdsl: 1\nname: bad\nrules:\n  x:\n    when: nope(\n", encoding="utf-8")
    assert main(["demo", "--ruleset", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:5" in err and "not a valid ruleset" in err
    assert main(["demo", "--ruleset", str(tmp_path / "missing.yaml")]) == 2


def test_demo_money_sums_the_gateway_tape_and_compares_to_the_cent() -> None:
    from rmdsl.demo.money import DemoMoney, Money, of_day, of_tape
    from rmdsl.lang.context import DayView

    tape = [
        {"id": 1, "profitAndLoss": None, "fees": 1.4, "voided": False},
        {"id": 2, "profitAndLoss": 50.0, "fees": 1.4, "voided": False},
        {"id": 3, "profitAndLoss": -900.0, "fees": 1.4, "voided": True},  # never counts
    ]
    gateway = of_tape(tape)
    assert gateway == Money(D("50.00"), D("2.80"), D("47.20"), 2)
    day = DayView(realized_pnl=D("47.2"), gross_pnl=D(50), fees=D("2.8"))
    assert DemoMoney(of_day(day, 2), gateway, D("47.20")).adds_up
    assert not DemoMoney(of_day(day, 2), gateway, D("47.19")).adds_up  # a cent off
    off = DayView(realized_pnl=D(50), gross_pnl=D(50), fees=D(0))  # gross taken for net
    assert not DemoMoney(of_day(off, 2), gateway, D("47.20")).adds_up
