"""deploy/prometheus: the fleet's scrape config and alerting rules are valid for Prometheus
(promtool, when installed: `./dev test` installs Debian's `prometheus`), and every alert
names metrics, with labels, that a running daemon really exports on /metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from e2ekit import StartDaemon

from rmdsl.dashboard import DashboardOptions

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = DEPLOY / "rmdsl-alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
# labels Prometheus itself attaches to every scraped series (job, instance) or the
# scrape config does (shard): a daemon does not export them
SCRAPE_LABELS = frozenset({"job", "instance", "shard"})
_KEYWORDS = frozenset(
    "by without on ignoring group_left group_right and or unless bool offset".split()
)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "rmdsl-alerts.yml"),
        ("check", "config", "prometheus.yml"),
        ("test", "rules", "rmdsl-alerts.test.yml"),
    ],
    ids=["check-rules", "check-config", "test-rules"],
)
def test_promtool_accepts_the_files(args: tuple[str, ...]) -> None:
    done = promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def selectors(expr: str) -> dict[str, set[str]]:
    """The metrics an expression reads -> the labels it names on them (matchers, by(...))."""
    text = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors [5m]
    grouped: set[str] = set()
    for found in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        grouped |= set(_IDENT.findall(found[1]))
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    out: dict[str, set[str]] = {}
    for found in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, matchers, call = found[1], found[2], found[3]
        if call or name in _KEYWORDS:
            continue  # a function (count, increase) or a keyword
        labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!=|!~|=)", matchers or ""))
        out.setdefault(name, set()).update(labels)
    for labels in out.values():
        labels |= grouped
    return out


def test_selectors_reads_names_and_labels_of_an_expression() -> None:
    expr = 'count by (account, account_id) (rmdsl_account_info{ruleset="x"}) > 1'
    assert selectors(expr) == {"rmdsl_account_info": {"account", "account_id", "ruleset"}}
    expr = 'increase(rmdsl_enforcements_total{outcome="failed"}[5m]) > 0 and up == 1'
    assert selectors(expr) == {"rmdsl_enforcements_total": {"outcome"}, "up": set()}


def exported(text: str) -> dict[str, set[str]]:
    """Sample name -> its label names, from a /metrics text (a family's TYPE line names it
    even before it has a sample)."""
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            out.setdefault(name + ("_total" if kind == "counter" else ""), set())
        elif line and not line.startswith("#"):
            found = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?", line)
            assert found is not None, line
            labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', found[3] or ""))
            out.setdefault(found[1], set()).update(labels)
    return out


def unknown_names(text: str) -> list[str]:
    """What the alerting rules name that the daemon's /metrics does not have."""
    have = exported(text)
    missing = []
    for rule in alerts():
        for name, labels in selectors(str(rule["expr"])).items():
            if name == "up":  # Prometheus's own: 0 while a target is not scraped
                continue
            if name not in have:
                missing.append(f"{rule['alert']}: metric {name}")
            elif labels - have[name] - SCRAPE_LABELS:
                missing.append(f"{rule['alert']}: {name} has no {labels - have[name]}")
    return missing


def test_an_alert_on_a_name_the_daemon_does_not_export_is_caught() -> None:
    text = '# TYPE rmdsl_reconciled gauge\nrmdsl_reconciled{account="A"} 1.0\n'
    missing = unknown_names(text)
    assert "RmdslAccountNotReconciled: metric rmdsl_reconciled" not in missing
    assert "RmdslGoalPastDeadline: metric rmdsl_goals_overdue" in missing
    # an alert matching on a label the series does not carry never fires: caught too
    wrong = '# TYPE rmdsl_enforcements counter\nrmdsl_enforcements_total{account="A"} 1.0\n'
    assert "RmdslEnforcementFailing: rmdsl_enforcements_total has no {'outcome'}" in (
        unknown_names(wrong)
    )


def test_every_alert_about_an_account_names_it() -> None:
    daemon_wide = {
        "up",
        "process_resident_memory_bytes",
    }  # about the daemon: they name its instance
    for rule in alerts():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        names = set(selectors(str(rule["expr"])))
        if all(n in daemon_wide or n.startswith("rmdsl_fleet_") for n in names):
            assert "$labels.instance" in annotations["summary"], rule["alert"]
        else:
            for text in (annotations["summary"], annotations["description"]):
                assert "{{ $labels.account }}" in text, rule["alert"]


def test_the_accounts_text_is_the_prometheus_format_whatever_the_name() -> None:
    """The per-account lines are written by hand (prometheus_client costs ~25 us a sample):
    Prometheus's own parser reads them back, an odd account name included."""
    from prometheus_client.parser import text_string_to_metric_families

    from rmdsl.dashboard.prom_accounts import Exposition, sample

    odd = 'desk "A" \\ 7\nB'
    out = Exposition()
    out.family(
        "rmdsl_firings_total",
        "counter",
        "times",
        [sample("rmdsl_firings_total", {"account": odd, "rule": "r"}, 3)],
    )
    out.family(
        "rmdsl_reconciled", "gauge", "1 while", [sample("rmdsl_reconciled", {"account": "B"}, True)]
    )
    families = {f.name: f for f in text_string_to_metric_families(out.text())}
    [fired] = families["rmdsl_firings"].samples
    assert (fired.labels, fired.value) == ({"account": odd, "rule": "r"}, 3.0)
    [reconciled] = families["rmdsl_reconciled"].samples
    assert (reconciled.labels, reconciled.value) == ({"account": "B"}, 1.0)


@pytest.mark.e2e
async def test_every_alert_reads_metrics_a_running_daemon_exports(
    start_daemon: StartDaemon,
) -> None:
    live = await start_daemon(dashboard=DashboardOptions(port=0, interval_ms=50))
    live.gw.trader_place("MNQ", "buy", "market", 3)  # 3 > max_mnq 2: reduced, counted
    await live.wait_for_record("mnq_contracts", outcome="ok")
    dashboard = live.daemon.dashboard
    assert dashboard is not None
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(dashboard.url + "metrics")).text
    assert unknown_names(text) == []


MLL_RULES = """\
rmdsl: 1
name: mll
params:
  account_size: $50000
  mll_distance: $2000
rules:
  mll_guard:
    when: account.to_mll <= $250
    do: [flatten, lockout(until: reset)]
"""


@pytest.mark.e2e
async def test_an_account_with_an_mll_model_exports_its_distance_to_it(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """RmdslMllDistanceLow reads account.to_mll: $50,000 balance - ($50,000 - $2,000)."""
    path = tmp_path / "mll.yaml"
    path.write_text(MLL_RULES, encoding="utf-8")
    live = await start_daemon(ruleset_path=path, dashboard=DashboardOptions(port=0))
    dashboard = live.daemon.dashboard
    assert dashboard is not None
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(dashboard.url + "metrics")).text
    [line] = [ln for ln in text.splitlines() if ln.startswith("rmdsl_account_to_mll{")]
    assert line == 'rmdsl_account_to_mll{account="PRAC-SIM-1"} 2000.0'
