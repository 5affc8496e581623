"""The console's actions in a real browser, against a real daemon: Cancel a running job, Retry
a dead one, Resume the datasource its structural failures paused, and an action sent without
the token refused. The Job and Health views are checked (and photographed) on the way."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from specs.identity import task_id_for
from tests.ui.conftest import DRUID_CONSOLE, TOKEN, Stack, open_console

DAYS = ["2024-02-01", "2024-02-02", "2024-02-03"]


def day(start: str) -> str:
    end = f"2024-02-{int(start[-2:]) + 1:02d}"
    return f"{start}T00:00:00.000Z/{end}T00:00:00.000Z"


# `clicks` tasks stay WAITING for ever (something to cancel); three `wikipedia` days fail
# structurally once (dead at once, and three of them pause the datasource), then succeed.
pytestmark = pytest.mark.cluster(
    stuck_waiting_datasources=["clicks"],
    scripted={f"wikipedia/{day(d)}": ["structural:missing_input", "success"] for d in DAYS},
)


async def phase(stack: Stack, job_id: str) -> str:
    status, body = await stack.call("GET", f"/v1/jobs/{job_id}")
    assert status == 200, body
    return str(body["job"]["phase"])


async def test_cancel_retry_resume_and_a_refusal_without_the_token(
    stack: Stack, browser: Any, shots: Path
) -> None:
    (stuck,) = await stack.submit(["2024-02-01/2024-02-02"], datasource="clicks")
    dead = await stack.submit(["2024-02-01/2024-02-04"])
    page = await open_console(browser, stack.url)
    shown = page.locator("dl[aria-label=Job] .phase")

    # The running job's page: its attempt drawn, its task linked to Druid's console.
    await page.goto(f"{stack.url}/ui/#/job/{stuck}")
    await expect(shown).to_have_text("waiting", timeout=10_000)
    await expect(page.get_by_role("img", name="attempt 1")).to_be_visible()
    task = task_id_for(stuck, 1)
    href = await page.get_by_role("link", name=task).get_attribute("href")
    assert href == f"{DRUID_CONSOLE}#ingestion/taskId={task}"

    # Without the token (gone from the tab), Cancel is refused and nothing changes.
    await page.evaluate("sessionStorage.clear()")
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_role("alert")).to_contain_text("401")
    assert await phase(stack, stuck) == "waiting"
    # The change feed, refused in turn a moment later, must not replace the action's refusal
    # with its general hint (it did once, and CI saw the hint where it looked for the 401).
    # A new job ends the feed's long poll, so its next one (without the token) comes now,
    # not when the poll's wait runs out.
    await stack.submit(["2024-03-01/2024-03-02"], datasource="views")
    await expect(page.locator("#live")).to_have_text("needs the token", timeout=25_000)
    await expect(page.get_by_role("alert")).to_contain_text("Cancel refused (401)")

    # With it, Cancel goes through and the page follows the job to `cancelled`.
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Use", exact=True).click()
    await page.get_by_role("button", name="Cancel").click()
    await expect(shown).to_have_text("cancelled", timeout=10_000)
    assert await phase(stack, stuck) == "cancelled"
    await expect(page.get_by_role("button", name="Cancel")).to_be_disabled()

    # A dead job: its classification, rule and report excerpt; then Retry.
    await eventually_phase(stack, dead, "dead")
    await page.goto(f"{stack.url}/ui/#/job/{dead[0]}")
    failure = page.get_by_role("region", name="Failure")
    await expect(failure).to_contain_text("structural")
    await page.screenshot(path=shots / "job-failure.png", full_page=True)
    await page.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("definition").filter(has_text="is paused")).to_be_visible(
        timeout=10_000
    )

    # Health: the paused datasource, resumed; the retried job then succeeds.
    await page.get_by_role("link", name="Health").click()
    paused = page.locator('li[data-datasource="wikipedia"]')
    await expect(paused).to_contain_text("wikipedia")
    await expect(page.get_by_role("region", name="Slot gate")).to_contain_text("Claimed")
    # One daemon on SQLite: no replicas, so no role in /readyz and no lease.
    await expect(page.locator("[data-role]")).to_have_text("standalone")
    rates = page.get_by_role("table", name="Overlord calls per second")
    await expect(rates).not_to_contain_text("measuring", timeout=5_000)
    await page.screenshot(path=shots / "health.png", full_page=True)
    await page.get_by_role("button", name="Resume wikipedia").click()
    await expect(page.locator('[data-paused="none"]')).to_be_visible()
    await page.go_back()
    await expect(shown).to_have_text("succeeded", timeout=15_000)
    await expect(page.get_by_role("img", name="attempt 2")).to_be_visible()
    assert page.errors == []


async def eventually_phase(stack: Stack, job_ids: list[str], wanted: str) -> None:
    phases: dict[str, str] = {}

    async def check() -> bool:
        for job_id in job_ids:
            phases[job_id] = await phase(stack, job_id)
        return set(phases.values()) == {wanted}

    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not all {wanted}: {phases}")
