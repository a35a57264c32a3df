"""`rmdsl test` steps (reload, restart, disconnect/reconnect, fail, expect at a time), working
orders, `symbol:` on cancels, test-file errors (exit 2, located) and rule errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
STEPS = sorted((ROOT / "examples/tests/steps").glob("*_test.yaml"))
BASE = ROOT / "examples/tests/rulesets/steps-base.yaml"
TIGHT = ROOT / "examples/tests/rulesets/steps-tight.yaml"

OPEN = """\
      - {at: "09:30:00", order: {id: 1, contract: MNQ, type: stop, side: sell, stop: 20900}}
      - {at: "09:30:00", fill: {contract: MNQ, side: buy, size: 1, price: 21000}}
"""
LOSS = """\
      - {at: "09:31:00", fill: {contract: MNQ, side: sell, size: 1, price: 20740, pnl: -520}}
"""


def rmdsl_test(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str, ruleset: Path = BASE
) -> tuple[int, str, str, str]:
    path = tmp_path / "t_test.yaml"
    path.write_text(f"ruleset: {ruleset}\ntests:\n{body}", encoding="utf-8")
    code = main(["test", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err, str(path)


def test_a_bad_file_among_good_ones_is_counted_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad_test.yaml"
    bad.write_text(f"ruleset: {BASE}\ntests:\n  - events: [{{at: '09:30', fil: {{}}}}]\n")
    assert main(["test", str(STEPS[0]), str(bad)]) == 2
    out = capsys.readouterr().out
    assert out.rstrip().endswith(
        "passed, 0 failed; error: 1 test file(s) not run: see the errors above"
    )


def test_the_step_examples_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(STEPS) >= 5
    assert main(["test", *(str(p) for p in STEPS)]) == 0
    assert " 0 failed" in capsys.readouterr().out


# ---- steps ----------------------------------------------------------------------------------
def test_reload_swaps_the_ruleset_between_events(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}      - {{at: "09:31:00", fill: {{contract: MNQ, side: sell, price: 20800, pnl: -400}}}}
      - {{at: "09:40:00", reload: {TIGHT}}}
    expect:
      state: {{lockout: false}}
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 1
    assert f"{path}:10: state lockout: expected false, got true" in out  # -$400 <= -$300


def test_restart_goes_through_the_sqlite_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rmdsl.store import SqliteStore

    opened: list[Path] = []
    original = SqliteStore.open

    async def spy(self: SqliteStore) -> None:
        opened.append(self.path)
        await original(self)

    monkeypatch.setattr(SqliteStore, "open", spy)
    body = f"""  - name: r
    events:
{OPEN}{LOSS}      - {{at: "10:00:00", restart: true}}
    expect:
      state: {{day.realized_pnl: -999, lockout: true}}
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 1
    assert f"{path}:10: state day.realized_pnl: expected -$999.00, got -$520.00" in out
    assert len(opened) == 2 and opened[0] == opened[1] and opened[0].name == "state.db"
    assert not opened[0].exists()  # the temporary database is cleaned up


def test_disconnect_pauses_evaluation_until_the_reconnect(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}      - {{at: "09:31:00", disconnect: true}}
{LOSS.replace("09:31:00", "09:32:00")}      - at: "09:33:00"
        expect: {{state: {{lockout: false}}}}
      - {{at: "09:34:00", reconnect: true}}
    expect:
      actions: [{{at: "09:32:00", rule: daily_realized_loss, action: lockout}}]  # as of the loss
      state: {{lockout: true}}
"""
    code, out, _, _ = rmdsl_test(capsys, tmp_path, body)
    assert code == 0, out


def test_reconnect_snapshot_replaces_positions_and_orders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}      - {{at: "09:31:00", disconnect: true}}
      - at: "09:40:00"
        reconnect:
          positions: []
          orders: [{{id: 5, contract: MES, type: limit, side: buy, size: 1, price: 5000}}]
    expect:
      state: {{positions.count: 0}}
      orders: [{{id: 1}}]
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 1
    assert f"{path}:14: orders: no working order id=1 (working: #5 limit buy 1 MES @ 5000)" in out
    assert f"{path}:14: orders: unexpected working #5 limit buy 1 MES @ 5000" in out


def test_fail_makes_the_broker_call_raise(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = """  - name: r
    events:
      - {at: "09:30:00", fail: {call: close_position, times: 2, error: "rejected"}}
      - {at: "09:30:00", fill: {contract: MNQ, side: buy, size: 1, price: 21000}}
      - at: "09:32:00"
        expect:
          actions: [{rule: no_stop_loss_grace, action: close_position, outcome: ok}]
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 1
    assert f"{path}:9: expected no_stop_loss_grace close_position (ok): not fired" in out
    assert "unexpected no_stop_loss_grace close_position on MNQ at 09:32:00 (failed)" in out


def test_expect_at_a_time_checks_only_what_fired_since_the_previous_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}{LOSS}      - at: "09:35:00"
        expect:
          actions: []
          state: {{lockout: true}}
    expect:
      actions: []
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 1
    assert f"{path}:7: unexpected daily_realized_loss lockout(until=reset)" in out
    assert out.count("unexpected") == 1  # the final expect does not see it again


def test_symbol_matches_a_cancelled_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}{LOSS}      - {{at: "09:32:00", order: {{id: 2, contract: ES, type: limit, price: 5000}}}}
    expect:
      actions:
        - {{rule: daily_realized_loss, action: lockout, symbol: MNQ}}
        - {{rule: daily_realized_loss, action: cancel_orders, symbol: MNQ}}
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 1
    assert f"{path}:12: expected daily_realized_loss cancel_orders on MNQ: not fired" in out
    assert "unexpected daily_realized_loss cancel_orders on order:2" in out  # an ES order


# ---- errors of the test file: exit 2, located ----------------------------------------------
@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            '{at: "09:30:00", fil: {contract: MNQ, price: 1}}',
            "7:26: error: unknown event kind `fil`: did you mean `fill`?",
        ),
        (
            '{at: "09:30:00", relaod: x.yaml}',
            "7:26: error: unknown event kind `relaod`: did you mean `reload`?",
        ),
        (
            '{at: "09:30:00", fail: {call: close_positon, times: 1}}',
            "7:39: error: `fail.call` must name a broker call: did you mean `close_position`?",
        ),
        (
            '{at: "09:30:00", fail: {call: close_position, times: 0}}',
            "7:62: error: `fail.times` is a whole number >= 1",
        ),
        (
            '{at: "09:30:00", disconnect: 3}',
            "7:38: error: `disconnect` takes no value: write `disconnect: true`",
        ),
        (
            '{at: "09:30:00", reload: missing.yaml}',
            "7:34: error: cannot read `",
        ),
        (
            '{at: "09:30:00", expect: {action: []}}',
            "7:35: error: unknown key `action` in `expect`: did you mean `actions`?",
        ),
        (
            '{at: "09:30:00", expect: {orders: [{sym: MNQ}]}}',
            "7:45: error: unknown order field `sym`: did you mean `symbol`?",
        ),
        (
            '{at: "09:30:00", clock: true, restart: true}',
            "7:39: error: give exactly one of fill, position, order, quote, account, clock, "
            "target, reload, restart, disconnect, reconnect, fail, expect",
        ),
        (
            '{at: "09:30:00", reconnect: {position: []}}',
            "7:38: error: `reconnect.position`: expected one of positions, orders, trades, "
            "quotes, each a list",
        ),
        (
            '{at: "09:30:00", restart: 5}',
            "7:35: error: `restart` is `true` or a snapshot: positions, orders, trades",
        ),
    ],
)
def test_a_wrong_step_or_event_is_an_error_of_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, event: str, message: str
) -> None:
    body = f"""  - name: r
    start: "09:00"
    events:
      - {event}
"""
    code, out, err, path = rmdsl_test(capsys, tmp_path, "\n" + body)
    assert code == 2
    assert f"{path}:{message}" in err
    assert "error: 1 test file(s) not run: see the errors above" in out
    assert "0 passed" not in out


def test_an_invalid_reloaded_ruleset_is_an_error_of_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "bad.yaml").write_text(
        "rmdsl: 1\nname: bad\nrules: {x: {when: 1 +, do: [alert]}}\n"
    )
    body = """  - name: r
    events:
      - {at: "09:30:00", reload: bad.yaml}
"""
    code, _, err, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 2
    assert f"{path}:5:34: error: `reload: {tmp_path / 'bad.yaml'}` is invalid:" in err
    assert "error[RM" in err  # the ruleset's own diagnostics follow


def test_restart_with_a_snapshot_and_reconnect_trades_at_their_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}      - at: "10:00:00"
        restart: {{positions: [], orders: []}}   # the broker closed it while rmdsl was down
      - {{at: "10:01:00", disconnect: true}}
      - at: "10:10:00"
        reconnect:
          trades: [{{id: 9, at: "10:05:00", contract: MNQ, side: sell, price: 20700, pnl: -600}}]
    expect:
      actions: [{{at: "10:05:00", rule: daily_realized_loss, action: lockout}}]  # the fill's time
      state: {{positions.count: 0, day.realized_pnl: -600, day.trades: 1}}
      orders: []
"""
    code, out, err, _ = rmdsl_test(capsys, tmp_path, body)
    assert code == 0, out + err


def test_a_misspelt_rule_name_is_an_error_of_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}    expect:
      actions:
        - {{rule: daily_realised_loss, action: lockout}}
"""
    code, _, err, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 2
    assert (
        f"{path}:9:18: error: no rule `daily_realised_loss` in the ruleset: "
        "did you mean `daily_realized_loss`?"
    ) in err


def test_a_misspelt_rule_in_an_expect_step_and_a_state_name_are_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"""  - name: r
    events:
{OPEN}      - at: "09:31:00"
        expect: {{state: {{day.realised_pnl: 0}}}}
"""
    code, _, err, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 2
    assert f"{path}:8:26: error: unknown state name `day.realised_pnl`: did you mean" in err


def test_a_rule_only_in_the_reloaded_ruleset_is_known(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        f"rmdsl: 1\nname: extra\nextends: [{BASE}]\nrules:\n"
        "  any_fill:\n    when: day.trades >= 0\n    do: [alert]\n",
        encoding="utf-8",
    )
    body = f"""  - name: r
    events:
{OPEN}      - {{at: "09:31:00", reload: extra.yaml}}
    expect:
      actions: [{{rule: any_fill, action: alert}}]
"""
    code, out, err, _ = rmdsl_test(capsys, tmp_path, body)
    assert code == 0, out + err


# ---- a rule that errors --------------------------------------------------------------------
ERRING = """\
rmdsl: 1
name: erring
timezone: America/Chicago
rules:
  pnl_cents:
    when: day.realized_pnl * 10000000000000000000000000000 % $0.03 > $0
    do: [flatten]
"""


def test_a_rule_that_errors_fails_the_test_as_an_error_not_as_not_fired(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rs = tmp_path / "erring.yaml"
    rs.write_text(ERRING, encoding="utf-8")
    body = f"""  - name: r
    events:
{OPEN}{LOSS}    expect:
      actions: [{{rule: pnl_cents, action: flatten}}]
"""
    code, out, _, path = rmdsl_test(capsys, tmp_path, body, ruleset=rs)
    assert code == 1
    assert f"{path}:9: expected pnl_cents flatten: rule pnl_cents errored (below)" in out
    assert (
        f"{path}:7: error: rule pnl_cents failed in `when` at {rs}:6:11: "
        "InvalidOperation: DivisionImpossible (once, first at 09:31:00); "
        "the rule counts as not fired until it is fixed"
    ) in out


@pytest.mark.parametrize("where", ["step", "end"])
def test_an_expected_rule_error_passes_and_is_still_required(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    """`expect.errors` documents an error: listed, it passes; listed but absent, it fails."""
    rs = tmp_path / "erring.yaml"
    rs.write_text(ERRING, encoding="utf-8")
    if where == "step":
        expect = '      - at: "09:32:00"\n        expect: {errors: [pnl_cents]}\n'
        body = f"  - name: r\n    events:\n{OPEN}{LOSS}{expect}"
        before = expect.replace("09:32:00", "09:30:30")  # before the loss: no error yet
        early = f"  - name: early\n    events:\n{OPEN}{before}{LOSS}"
    else:
        expect = "    expect: {errors: [pnl_cents]}\n"
        body = f"  - name: r\n    events:\n{OPEN}{LOSS}{expect}"
        early = f"  - name: early\n    events:\n{OPEN}{expect}"
    code, out, err, _ = rmdsl_test(capsys, tmp_path, body, ruleset=rs)
    assert code == 0, out + err
    code, out, err, _ = rmdsl_test(capsys, tmp_path, early, ruleset=rs)
    assert code == 1, out + err
    assert "expected an error of rule pnl_cents: none" in out


def test_a_misspelt_rule_in_expect_errors_is_an_error_of_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = f"  - name: r\n    events:\n{OPEN}    expect:\n      errors: [pnl_cent]\n"
    code, _, err, path = rmdsl_test(capsys, tmp_path, body)
    assert code == 2
    assert f"{path}:8:16: error: no rule `pnl_cent` in the ruleset" in err
