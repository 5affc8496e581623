"""The Grafana dashboard and the Prometheus rules in `examples/` ask only for what a running
daemon exports: every metric they name, with the labels they select and group by, is on the
`/metrics` of a daemon that has run a job through a failure. `promtool` checks the rules and
the scrape configuration (installed from Debian's `prometheus` package when missing)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.service.processes import ROOT, DaemonProcess, clean_env, fast_config, running, simulator

EXAMPLES = ROOT / "examples"
DASHBOARD = EXAMPLES / "grafana" / "druid-orch.json"
RULES = EXAMPLES / "prometheus" / "druid-orch.rules.yml"
SCRAPE = EXAMPLES / "prometheus" / "prometheus.yml"
TOKEN = "metrics-token-51c"
DAY = "2024-03-0{}T00:00:00.000Z/2024-03-0{}T00:00:00.000Z"
TEMPLATE = {
    "name": "wiki",
    "datasource": "wikipedia",
    "input": {"type": "http", "uris": ["https://example.com/{date}.json"]},
    "format": {"type": "json"},
}
# Samples the jobs leave behind, to hold the panels' selectors and groupings to.
AFTER_JOBS = (
    'druid_orch_failures_classified_total{classification="structural"',
    'druid_orch_retries_total{classification="transient"',
    'druid_orch_datasource_paused{datasource="wikipedia"} 1.0',
    'druid_orch_submissions_total{kind="task"}',
)
NAME = re.compile(r"\bdruid_orch_[a-zA-Z0-9_]+")
SELECTOR = re.compile(r"\b(druid_orch_[a-zA-Z0-9_]+)\{([^}]*)\}")
LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
BY = re.compile(r"\bby\s*\(([^)]*)\)")
# Labels Prometheus adds when it scrapes, and the histogram's own.
ADDED = {"instance", "job", "le"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def expressions(node: Any) -> Iterator[str]:
    """Every PromQL expression of a dashboard (panel targets, variable queries)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def exported(text: str) -> dict[str, set[str]]:
    """Every series name the exposition offers, with the label names its samples carry."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def problems(expr: str, series: dict[str, set[str]]) -> list[str]:
    found = [f"{name} is not exported" for name in NAME.findall(expr) if name not in series]
    for name, inner in SELECTOR.findall(expr):
        labels = series.get(name, set())
        found += [
            f"{name} has no label {k}" for k in LABEL.findall(inner) if k not in ADDED | labels
        ]
    names = set(NAME.findall(expr))
    if len(names) == 1:
        labels = series.get(names.pop(), set())
        for group in BY.findall(expr):
            keys = {k.strip() for k in group.split(",") if k.strip()}
            found += [f"by {k}: not a label of {expr}" for k in keys - ADDED - labels]
    return found


@pytest.fixture(scope="module")
def metrics_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    # Module-scoped, so the daemon runs once for these tests: its own event loop.
    return asyncio.run(scrape_after_jobs(tmp_path_factory.mktemp("metrics")))


async def scrape_after_jobs(tmp: Path) -> str:
    """/metrics of a daemon running three jobs, once one has been through a transient failure
    and another into a structural failure that paused their datasource."""
    scripted = {
        f"wikipedia/{DAY.format(2, 3)}": ["transient:s3_throttle", "success"],
        f"wikipedia/{DAY.format(3, 4)}": ["structural:parse_errors"],
    }
    async with running(simulator(scripted=scripted)) as overlord:
        config = tmp / "orch.toml"
        # One structural failure pauses the datasource, so the paused gauge has a sample.
        pause = "\n[orchestrator.datasource_breaker]\nstructural_limit = 1\n"
        config.write_text(fast_config(overlord, tmp / "orch.db") + pause)
        daemon = DaemonProcess(config, env=clean_env(DRUID_ORCH_API_TOKEN=TOKEN))
        await daemon.start()
        try:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            body = {"template": TEMPLATE, "intervals": [DAY.format(1, 4)]}
            async with aiohttp.ClientSession(headers=auth) as http:
                async with http.post(f"{daemon.url}/v1/jobs", json=body) as answer:
                    assert answer.status == 202, await answer.text()
                async with asyncio.timeout(30):
                    while True:
                        async with http.get(f"{daemon.url}/metrics") as answer:
                            text = await answer.text()
                        if all(sample in text for sample in AFTER_JOBS):
                            return text
                        await asyncio.sleep(0.1)
        finally:
            await daemon.stop()


def test_the_daemon_exports_what_the_dashboard_needs_once_jobs_ran(metrics_text: str) -> None:
    assert [sample for sample in AFTER_JOBS if sample not in metrics_text] == []
    # Boot reconciliation succeeded: the "no successful reconcile" alert has a time to age.
    [reconciled] = [
        s.value
        for f in text_string_to_metric_families(metrics_text)
        for s in f.samples
        if s.name == "druid_orch_reconcile_last_success_timestamp_seconds"
    ]
    assert reconciled > 1.7e9


def test_every_metric_and_label_the_dashboard_names_is_exported(metrics_text: str) -> None:
    series = exported(metrics_text)
    exprs = list(expressions(json.loads(DASHBOARD.read_text())))
    assert len(exprs) > 15
    assert [p for e in exprs for p in problems(e, series)] == []


def test_every_metric_and_label_the_alert_rules_name_is_exported(metrics_text: str) -> None:
    series = exported(metrics_text)
    exprs = rule_expressions()
    assert len(exprs) >= 5
    assert [p for e in exprs for p in problems(e, series)] == []


def test_the_checker_catches_a_misspelt_metric_and_label(metrics_text: str) -> None:
    series = exported(metrics_text)
    assert problems("rate(druid_orch_submision_total[5m])", series) != []
    assert problems('druid_orch_jobs{fase="dead"}', series) != []
    assert problems("sum by (rules) (druid_orch_retries_total)", series) != []


def promtool() -> str:
    """promtool, installed from Debian's `prometheus` package if it is missing (as root)."""
    found = shutil.which("promtool")
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing and cannot be installed here")
        pytest.skip("promtool is missing and apt-get cannot install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    with open("/tmp/druid-orch-promtool.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one xdist worker installs, the other waits
        if shutil.which("promtool") is None:
            done = subprocess.run(install, env=env, capture_output=True, timeout=600)
            if done.returncode != 0:  # no package lists yet: fetch them once
                subprocess.run([apt, "update", "-q"], env=env, capture_output=True, timeout=600)
                subprocess.run(install, env=env, capture_output=True, timeout=600, check=True)
    found = shutil.which("promtool")
    assert found is not None
    return found


def test_promtool_accepts_the_rules_and_the_scrape_configuration(tmp_path: Path) -> None:
    tool = promtool()
    rules = subprocess.run(
        [tool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The scrape configuration names its token file on the Prometheus host: give it one here.
    token = tmp_path / "token"
    token.write_text("t")
    shutil.copy(RULES, tmp_path / RULES.name)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        SCRAPE.read_text().replace("/etc/prometheus/druid-orch-api-token", str(token))
    )
    checked = subprocess.run(
        [tool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
