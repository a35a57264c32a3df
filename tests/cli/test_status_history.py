"""`rmdsl status` / `rmdsl history` on a state database written through the real SqliteStore."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from rmdsl.cli import main
from rmdsl.commands.history import parse_since
from rmdsl.engine.persistence import (
    AccountStateRecord,
    EnforcementRecord,
    LockoutKind,
    LockoutRecord,
    MetricSample,
    Outcome,
    RulesetVersionRecord,
    TimerRecord,
    UntilKindRecord,
)
from rmdsl.store import SqliteStore
from rmdsl.store.lock import AccountLock

T0 = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)
ACCOUNT = 7001


def enforcement(
    minute: int, rule: str, outcome: Outcome = Outcome.OK, *, typed: bool = True
) -> EnforcementRecord:
    return EnforcementRecord(
        timestamp=T0 + dt.timedelta(minutes=minute),
        account_id=ACCOUNT,
        rule_name=rule,
        action="close_position",
        reason=f"{rule} fired",
        values={"day.realized_pnl": "-1052.88"},
        target="CON.F.US.MNQ.Z25",
        latency_ms=3.25,
        outcome=outcome,
        error="refused" if outcome is Outcome.FAILED else None,
        shown={"day.realized_pnl": "-$1,052.88"} if typed else {},  # not typed: written by 0.x
    )


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        await store.save_account_state(
            AccountStateRecord(
                ACCOUNT,
                dt.date(2026, 11, 24),
                realized_pnl=Decimal("-1052.88"),
                unrealized_pnl=Decimal("12.50"),
                trades=3,
                losses=3,
                updated_at=T0,
                account_name="PRAC-SIM-1",
            )
        )
        await store.add_lockout(
            LockoutRecord(
                "lk1",
                ACCOUNT,
                None,
                "daily_realized_loss",
                T0 + dt.timedelta(hours=8),
                UntilKindRecord.RESET,
                T0,
            )
        )
        await store.add_lockout(
            LockoutRecord(
                "p1",
                ACCOUNT,
                None,
                "news_pause",
                T0 + dt.timedelta(minutes=30),
                UntilKindRecord.DURATION,
                T0,
                kind=LockoutKind.PAUSE,
            )
        )
        await store.add_lockout(
            LockoutRecord(
                "r1",
                ACCOUNT,
                None,
                "lunch_blackout",
                T0 + dt.timedelta(hours=4),  # reduce_only(until: 13:00) set at 09:00 CST
                UntilKindRecord.CLOCK,
                T0,
                kind=LockoutKind.REDUCE_ONLY,
            )
        )
        await store.start_timer(
            TimerRecord(
                "no_stop_loss_grace|CON.F.US.EP.Z25",
                ACCOUNT,
                "no_stop_loss_grace",
                "CON.F.US.EP.Z25",
                T0,
                T0 + dt.timedelta(minutes=2),
            )
        )
        await store.record_ruleset_version(
            RulesetVersionRecord(
                "ab" * 32, "topstep-50k", "/r/topstep.yaml", T0, timezone="America/Chicago"
            )
        )
        await store.record_ruleset_rejection(
            "/r/topstep.yaml", "topstep.yaml:9:5: error[RM101]: bad", T0 + dt.timedelta(minutes=5)
        )
        await store.record_enforcement(enforcement(1, "mnq_contracts", typed=False))
        await store.record_enforcement(enforcement(2, "no_stop_loss_grace", Outcome.FAILED))
        await store.record_enforcement(enforcement(3, "daily_realized_loss"))
        samples = [
            MetricSample("enforcement_latency_ms.p50", 3.0, T0),
            MetricSample("enforcement_latency_ms.max", 4.0, T0),
            MetricSample("event_processing_ms.p50", 0.1, T0),
            MetricSample("event_processing_ms.p95", 0.4, T0),
            MetricSample("event_processing_ms.max", 75.0, T0),  # over the 50 ms alert
            MetricSample("rule_evaluation_ms.max", 0.01, T0, "mnq_contracts"),
            MetricSample("rule_evaluation_ms.max", 0.02, T0, "daily_realized_loss"),
            MetricSample("rule_evaluation_ms.p50", 0.01, T0, "daily_realized_loss"),
        ]
        await store.record_metrics(samples)
    return path


async def rmdsl(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rmdsl",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_json_reports_the_day(db: Path) -> None:
    rc, out, err = await rmdsl(
        "status", "--state", str(db), "--format", "json", "--now", "2026-11-24T15:10:00+00:00"
    )
    assert rc == 0, err
    data = json.loads(out)
    assert data["account"]["name"] == "PRAC-SIM-1"
    assert data["pnl"]["realized"] == "-1052.88"
    assert data["pnl"]["unrealized"] == "12.50"
    kinds = {lk["rule"]: lk["kind"] for lk in data["lockouts"]}
    assert kinds == {
        "daily_realized_loss": "lockout",
        "news_pause": "pause",
        "lunch_blackout": "reduce_only",
    }
    assert any(lk["until"] == "2026-11-24T23:00:00+00:00" for lk in data["lockouts"])  # UTC
    assert data["timers"][0]["entity"] == "CON.F.US.EP.Z25"
    assert data["ruleset"]["name"] == "topstep-50k"
    assert "RM101" in data["reload_errors"][0]["error"]
    by_name = {m["metric"]: m for m in data["metrics"]}
    assert by_name["event_processing_ms"]["state"] == "ALERT"
    assert by_name["enforcement_latency_ms"]["state"] == "ok"
    assert by_name["enforcement_latency_ms"]["p95"] is None  # under 100 samples: not shown
    assert by_name["rule_evaluation_ms"]["worst_rule"] == "daily_realized_loss"
    assert by_name["rss_mb"]["state"] == "no data"


async def test_status_text_and_watch(db: Path) -> None:
    rc, out, _ = await rmdsl(
        "status",
        "--state",
        str(db),
        "--watch",
        "0.05",
        "--watch-count",
        "2",
        "--now",
        "2026-11-24T15:10:00+00:00",
    )
    assert rc == 0
    assert out.count("state database") == 2
    assert "realized -$1,052.88, unrealized $12.50" in out
    # on the ruleset's clock (Chicago, CST in November), not UTC
    assert "account locked by daily_realized_loss until 2026-11-24 17:00:00 CST" in out
    assert "account paused by news_pause until 2026-11-24 09:30:00 CST" in out
    assert (
        "account reduce-only (exits only) by lunch_blackout until 2026-11-24 13:00:00 CST (clock)"
        in out
    )
    assert "no_stop_loss_grace on CON.F.US.EP.Z25: fires at 2026-11-24 09:02:00 CST" in out
    assert "reload refused" in out


async def test_tz_overrides_the_ruleset_timezone(db: Path) -> None:
    rc, out, _ = await rmdsl(
        "status", "--state", str(db), "--tz", "UTC", "--now", "2026-11-24T15:10:00+00:00"
    )
    assert rc == 0
    assert "account locked by daily_realized_loss until 2026-11-24 23:00:00 UTC" in out
    rc, out, _ = await rmdsl("history", "--state", str(db), "--tz", "Europe/Paris", "--limit", "1")
    assert out.splitlines()[1].startswith("2026-11-24 16:03:00 CET ")
    rc, _, err = await rmdsl("status", "--state", str(db), "--tz", "Mars/Olympus")
    assert rc == 2 and "'Mars/Olympus' is not a timezone" in err


async def test_history_filters(db: Path) -> None:
    rc, out, _ = await rmdsl("history", "--state", str(db), "--format", "json")
    assert rc == 0
    rules = [e["rule"] for e in json.loads(out)["enforcements"]]
    assert rules == ["daily_realized_loss", "no_stop_loss_grace", "mnq_contracts"]
    rc, out, _ = await rmdsl(
        "history", "--state", str(db), "--format", "json", "--rule", "no_stop_loss_grace"
    )
    [only] = json.loads(out)["enforcements"]
    assert (only["outcome"], only["error"]) == ("failed", "refused")
    rc, out, _ = await rmdsl(
        "history", "--state", str(db), "--since", "2026-11-24T09:02", "--limit", "1"
    )  # 09:02 on the ruleset's clock (CST): 15:02 UTC
    assert "daily_realized_loss" in out and "mnq_contracts" not in out
    assert out.splitlines()[1].startswith("2026-11-24 09:03:00 CST  daily_realized_loss ")
    assert out.splitlines()[2] == "    message: daily_realized_loss fired"
    assert out.splitlines()[3] == "    values: day.realized_pnl = -$1,052.88"


async def test_history_json_keeps_machine_values_and_utc(db: Path) -> None:
    rc, out, _ = await rmdsl("history", "--state", str(db), "--format", "json")
    assert rc == 0
    data = json.loads(out)
    newest, _, oldest = data["enforcements"]
    assert data["timezone"] == "America/Chicago"
    assert newest["time"] == "2026-11-24T15:03:00+00:00"
    assert newest["values"] == {"day.realized_pnl": "-1052.88"}
    assert newest["shown"] == {"day.realized_pnl": "-$1,052.88"}
    assert oldest["shown"] == {"day.realized_pnl": "-1052.88"}  # recorded without types: raw


@pytest.mark.parametrize("command", ["status", "history"])
async def test_ctrl_c_stops_a_watch_like_any_command(db: Path, command: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "rmdsl", command, "--state", str(db), "--watch", "0.05"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        first = await proc.stdout.readline()  # it has drawn once: now it sleeps or redraws
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
    assert first
    assert proc.returncode == 130  # the CLI's convention for Ctrl-C (rmdsl.cli.main)
    assert err.decode() == "interrupted\n"  # no traceback


async def test_a_corrupt_database_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "state.db"
    bad.write_bytes(b"not sqlite at all " * 300)
    for command in ("status", "history"):
        rc, out, err = await rmdsl(command, "--state", str(bad), "--watch", "1")
        assert (rc, out) == (2, "")
        assert err.startswith(f"rmdsl: error: state database {bad}: cannot open")
        assert "Traceback" not in err


def test_missing_database_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--state", str(tmp_path / "none.db")]) == 2
    assert "no state database" in capsys.readouterr().err
    assert main(["history", "--state", str(tmp_path / "none.db")]) == 2


def test_history_rejects_a_bad_since(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--since", "yesterday-ish"]) == 2
    assert "not a time" in capsys.readouterr().err


async def test_status_says_whether_the_accounts_daemon_runs_and_is_reconciled(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locks = tmp_path / "locks"
    monkeypatch.setenv("RMDSL_LOCK_DIR", str(locks))  # the subprocess probes this one
    lock = AccountLock(ACCOUNT, locks, str(db))
    me = await lock.acquire()
    try:
        async with SqliteStore(db) as store:
            await store.claim_daemon(ACCOUNT, me.pid, me.host, T0)
            await store.set_daemon_status(ACCOUNT, "not reconciled", T0 + dt.timedelta(minutes=1))
        rc, out, err = await rmdsl("status", "--state", str(db))
        assert rc == 0, err
        assert (
            f"daemon          running since 2026-11-24 09:00:00 CST (pid {me.pid} on {me.host}); "
            "NOT RECONCILED since 2026-11-24 09:01:00 CST"
        ) in out
        rc, out, err = await rmdsl("status", "--state", str(db), "--format", "json")
        daemon = json.loads(out)["daemon"]
        assert daemon["running"] is True and daemon["status"] == "not reconciled"
    finally:
        lock.release()
    with subprocess.Popen([sys.executable, "-c", "pass"]) as gone:
        gone.wait()  # its pid has ended (and was reaped): a daemon killed with -9
    dead = gone.pid
    async with SqliteStore(db) as store:
        await store.write("UPDATE daemons SET pid = ?", (dead,))
    rc, out, _ = await rmdsl("status", "--state", str(db))
    assert f"NOT RUNNING: pid {dead} on {me.host} ended without stopping" in out


def test_since_reads_hours_minutes_today_and_yesterday_on_the_display_clock() -> None:
    now = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 09:00 in Chicago
    assert parse_since("2h", "America/Chicago", now) == now - dt.timedelta(hours=2)
    assert parse_since("90 min", None, now) == now - dt.timedelta(minutes=90)
    midnight_cst = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.UTC)
    assert parse_since("today", "America/Chicago", now) == midnight_cst
    assert parse_since("Yesterday", "America/Chicago", now) == midnight_cst - dt.timedelta(days=1)
    assert parse_since("2026-11-24", "America/Chicago", now) == midnight_cst
    assert parse_since("2026-11-24T09:30", "America/Chicago", now) == now.replace(minute=30)
    assert parse_since("2026-11-24T15:30Z", "America/Chicago", now) == now.replace(minute=30)


async def test_history_since_yesterday_and_2h(db: Path) -> None:
    # the records are at 15:01..15:03 UTC on 2026-11-24 (09:0x CST)
    cases = (
        ("2026-11-25T10:00:00+00:00", "yesterday", 3),  # 04:00 CST on the 25th
        ("2026-11-24T15:10:00+00:00", "yesterday", 3),
        ("2026-11-26T10:00:00+00:00", "yesterday", 0),
        ("2026-11-24T15:10:00+00:00", "2h", 3),
        ("2026-11-24T15:10:00+00:00", "7m", 1),  # since 15:03
        ("2026-11-24T19:10:00+00:00", "2h", 0),
    )
    for now, since, expected in cases:
        rc, out, err = await rmdsl(
            "history", "--state", str(db), "--format", "json", "--since", since, "--now", now
        )
        assert rc == 0, err
        assert len(json.loads(out)["enforcements"]) == expected, (now, since)
    rc, out, _ = await rmdsl("history", "--state", str(db), "--since", "2h")  # the wall clock
    assert rc == 0 and out.startswith("no enforcement recorded")


async def test_account_is_taken_by_name_as_run_takes_it(db: Path) -> None:
    rc, out, err = await rmdsl("status", "--state", str(db), "--account", "PRAC-SIM-1")
    assert rc == 0, err
    assert "PRAC-SIM-1 (id 7001)" in out
    rc, out, _ = await rmdsl("history", "--state", str(db), "--account", "PRAC-SIM-1")
    assert rc == 0 and "daily_realized_loss" in out
    rc, out, err = await rmdsl("status", "--state", str(db), "--account", "NOPE")
    assert (rc, out) == (2, "")
    assert "no account named 'NOPE'" in err and "PRAC-SIM-1" in err


async def test_expired_lockouts_are_not_shown_as_active(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    now = dt.datetime.now(dt.UTC)
    async with SqliteStore(path) as store:
        await store.save_account_state(
            AccountStateRecord(ACCOUNT, now.date(), updated_at=now, account_name="A")
        )
        for rule, until in (
            ("over", now - dt.timedelta(hours=1)),
            ("on", now + dt.timedelta(hours=1)),
        ):
            await store.add_lockout(
                LockoutRecord(rule, ACCOUNT, None, rule, until, UntilKindRecord.DURATION, now)
            )
    rc, out, _ = await rmdsl("status", "--state", str(path), "--format", "json")
    data = json.loads(out)
    assert [lk["rule"] for lk in data["lockouts"]] == ["on"]
    assert data["expired_lockouts"] == 1
    rc, out, _ = await rmdsl("status", "--state", str(path))
    assert rc == 0
    assert "lockouts:       1" in out and "locked by on" in out and "by over" not in out


async def test_history_labels_a_skip_as_a_skip_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with SqliteStore(path) as store:
        await store.save_account_state(AccountStateRecord(ACCOUNT, T0.date(), updated_at=T0))
        skipped = enforcement(1, "cooldown", Outcome.SKIPPED)
        await store.record_enforcement(
            dataclasses.replace(skipped, error="already locked until 17:00")
        )
    rc, out, _ = await rmdsl("history", "--state", str(path))
    assert "    skipped: already locked until 17:00" in out
    assert "error:" not in out
    rc, out, _ = await rmdsl("history", "--state", str(path), "--format", "json")
    assert rc == 0
    [entry] = json.loads(out)["enforcements"]
    assert (entry["outcome"], entry["error"], entry["skipped"]) == (
        "skipped",
        None,
        "already locked until 17:00",
    )


def test_since_also_reads_durations_as_rules_write_them() -> None:
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    assert parse_since("1h30m", None, now) == now - dt.timedelta(minutes=90)
    assert parse_since("2d", None, now) == now - dt.timedelta(days=2)


def test_history_columns_fit_a_long_rule_name_and_action() -> None:
    """`max_contracts_per_instrument` once ran into `reduce_position(to=2)`: columns widen."""
    from rmdsl.commands.history import render_history

    entry = {
        "time": dt.datetime(2026, 11, 30, 10, 11, 22, tzinfo=dt.UTC),
        "rule": "max_contracts_per_instrument",
        "action": "lockout(until=session_start)",
        "target": "CON.F.US.MNQ.Z25",
        "outcome": "skipped",
        "latency_ms": None,
        "reason": "",
        "shown": {},
        "skipped": "covered",
        "error": None,
    }
    text = render_history({"enforcements": [entry], "timezone": "UTC", "database": "x"})
    row = text.splitlines()[1].split()
    assert row[3:7] == [
        "max_contracts_per_instrument",
        "lockout(until=session_start)",
        "CON.F.US.MNQ.Z25",
        "skipped",
    ]
    assert text.splitlines()[0].split() == [
        "time",
        "rule",
        "action",
        "target",
        "outcome",
        "latency",
    ]
