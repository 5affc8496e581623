"""The console on an HA standby (docs/ha.md): the Health view names the role, the lease's
epoch and the leader (linked to its console), and an action answered with the standby's 307
is refused with a plain message instead of a failed cross-origin request.

The standby is a control API in this process with the replica's face (`Replication`) and
the gauges `service.ha.replica` registers: two daemons on PostgreSQL would take seconds, and
what the console reads of a standby is exactly this (`/readyz`, `/metrics`, the 307s)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from prometheus_client import Gauge

from service.api import ControlApi
from service.ha.standby_reads import Replication
from service.metrics import Metrics

LEADER = "http://127.0.0.1:9/"  # never asked: the console does not follow the redirect


async def test_a_standby_shows_its_leader_and_refuses_actions_plainly(browser: Any) -> None:
    metrics = Metrics()
    Gauge("druid_orch_leader", "", ["instance"], registry=metrics.registry).labels(
        "standby-b:8642"
    ).set(0)
    Gauge("druid_orch_leader_epoch", "", registry=metrics.registry).set(7)
    control = ControlApi(metrics=metrics)
    control.ha = Replication()
    control.ha.leader_url = LEADER
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
        assert errors == []
    finally:
        await runner.cleanup()
