"""`rmdsl test` end to end (subprocess): passing examples, readable failures, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples/tests/topstep/topstep_test.yaml")
RULESET = ROOT / "rulesets/topstep.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmdsl", "test", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_examples_pass() -> None:
    result = run(EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed, 0 failed" in result.stdout


def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "t_test.yaml"
    path.write_text(f"ruleset: {RULESET}\n" + body)
    return str(path)


def test_failures_show_expected_and_got_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """tests:
  - name: wrong expectations
    events:
      - {at: "10:00:00", fill: {contract: MNQ, side: buy, size: 1, price: 21000}}
      - {at: "10:03:00", clock: true}
    expect:
      actions:
        - {at: "10:01:00", rule: no_stop_loss_grace, action: close_position}
      state:
        positions.count: 1
        day.realized_pnl: -$999
        lockout: true
""",
    )
    result = run(path)
    assert result.returncode == 1
    out = result.stdout
    assert f"{path}:3: FAIL wrong expectations" in out
    assert f"{path}:9: expected no_stop_loss_grace close_position at 10:01:00: not fired" in out
    assert "unexpected no_stop_loss_grace close_position on MNQ at 10:02:00 (ok)" in out
    assert f"{path}:11: state positions.count: expected 1, got 0" in out
    # both sides as the language writes them: money, bools
    assert f"{path}:12: state day.realized_pnl: expected -$999, got $0.00" in out
    assert f"{path}:13: state lockout: expected true, got false" in out
    assert "0 passed, 1 failed" in out


def test_recording_shape_events_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """tests:
  - name: raw gateway payloads
    events:
      - at: "10:00:00"
        target: GatewayUserPosition
        data: {action: 1, data: {id: 1, accountId: 1, contractId: CON.F.US.MNQ.H26,
               creationTimestamp: "2026-03-02T16:00:00Z", type: 1, size: 1, averagePrice: 21000}}
      - {at: "10:02:00", clock: true}
    expect:
      actions:
        - {rule: no_stop_loss_grace, action: close_position, symbol: MNQ}
""",
    )
    result = run(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_invalid_test_file_is_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """tests:
  - name: bad
    events:
      - {at: "25:00", clock: true}
""",
    )
    result = run(path)
    assert result.returncode == 2  # an error of the test file, not a failing test
    assert f"{path}:5:14: error: bad time '25:00'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "error: 1 test file(s) not run: see the errors above" in result.stdout
    assert "0 passed" not in result.stdout


def test_missing_file_is_an_io_error(tmp_path: Path) -> None:
    assert run(str(tmp_path / "none.yaml")).returncode == 2


def test_no_arguments_is_a_usage_error() -> None:
    assert run().returncode == 2
