"""The console on an HA standby (docs/ha.md): the Health view names the role, the lease's
epoch and the leader (linked to its console), and an action answered with the standby's 307
is refused with a plain message instead of a failed cross-origin request, and the calendar
is drawn from the job views a standby answers coverage with.

The standby is a control API in this process with the replica's face (`Replication`) and
the gauges `service.ha.replica` registers, its reads (`StandbyReads`) over three jobs: two
daemons on PostgreSQL would take seconds, and what the console reads of a standby is exactly
this (`/readyz`, `/metrics`, the job reads, the 307s)."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect
from prometheus_client import Gauge

from eventlog.summaries import Changes, JobSummary, SummaryPage
from service.api import ControlApi
from service.ha.standby_reads import Replication, StandbyReads
from service.metrics import Metrics

LEADER = "http://127.0.0.1:9/"  # never asked: the console does not follow the redirect
JOBS = [
    JobSummary(
        job_id=f"orch_wikipedia_2024010{day}",
        datasource="wikipedia",
        interval=f"2024-01-0{day}T00:00:00.000Z/2024-01-0{day + 1}T00:00:00.000Z",
        phase=phase,
        terminal=phase != "running",
        attempt=1,
        max_attempts=3,
        accepted_at=1_700_000_000.0 + day,
    )
    for day, phase in ((1, "succeeded"), (2, "dead"), (3, "running"))
]


class SharedLog:
    """The reads a standby makes of the shared log (`StandbyReads`), over three jobs."""

    async def coverage(self, datasource: str, start: Any = None, end: Any = None) -> list[Any]:
        return [j for j in JOBS if j.datasource == datasource]

    async def job_summaries(self, query: Any) -> SummaryPage:
        return SummaryPage(JOBS)

    async def last_seq(self) -> int:
        return 9

    async def summary_changes(self, after: int, *, limit: int, wait_s: float) -> Changes:
        await asyncio.sleep(min(wait_s, 0.5))
        return Changes([], 9)


async def test_a_standby_shows_its_leader_and_refuses_actions_plainly(browser: Any) -> None:
    metrics = Metrics()
    Gauge("druid_orch_leader", "", ["instance"], registry=metrics.registry).labels(
        "standby-b:8642"
    ).set(0)
    Gauge("druid_orch_leader_epoch", "", registry=metrics.registry).set(7)
    control = ControlApi(metrics=metrics)
    control.ha = Replication()
    control.ha.leader_url = LEADER
    control.ha.reads = StandbyReads(SharedLog())  # type: ignore[arg-type]
    runner, url = await control.start("127.0.0.1", 0)
    try:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(url + "/ui/#/health")
        await expect(page.locator("[data-role]")).to_have_text("standby")
        await expect(page.locator("[data-epoch]")).to_have_text("7")
        replica = page.get_by_role("region", name="Replica")
        await expect(replica).to_contain_text("standby-b:8642")
        leader = replica.get_by_role("link", name=LEADER)
        await expect(leader).to_have_attribute("href", "http://127.0.0.1:9/ui/#/health")
        await expect(page.get_by_role("region", name="Paused datasources")).to_contain_text(
            "Kept by the leader"
        )
        # A write is the leader's: the standby's 307 comes back as a message, not a fetch error.
        refused = await page.evaluate(
            """() => import("./api.js").then((m) => m.api("/v1/reconcile", { method: "POST" }))
              .then(() => "accepted", (error) => `${error.status}: ${error.message}`)"""
        )
        assert refused.startswith("307: this daemon is a standby"), refused
        # The calendar a standby draws from its job views (it answers coverage without cells).
        await page.goto(url + "/ui/#/coverage?ds=wikipedia")
        await expect(page.locator(".calendar a.cell")).to_have_count(3)
        await expect(page.locator('.calendar a.cell[data-phase="dead"]')).to_have_count(1)
        assert errors == []
    finally:
        await runner.cleanup()
