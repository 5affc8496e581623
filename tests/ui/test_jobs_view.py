"""The Jobs view in a real browser: the page is served, lists the jobs, filters them, counts
them per phase, and follows them to `succeeded` from the change feed without a reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import Stack, open_console

pytestmark = pytest.mark.cluster(min_duration_s=0.5, max_duration_s=1.5)


async def test_jobs_are_listed_filtered_and_followed_live(
    stack: Stack, browser: Any, shots: Path
) -> None:
    page = await open_console(browser, stack.url)
    await expect(page.locator("tbody td.empty")).to_be_visible()
    # Jobs submitted after the page loaded appear, then move on, from the change feed alone.
    wiki = await stack.submit(["2024-01-01/2024-01-06"])
    clicks = await stack.submit(["2024-01-01/2024-01-03"], datasource="clicks")
    rows = page.locator("tbody tr[data-job]")
    await expect(rows).to_have_count(7)
    done = page.locator("tbody .badge", has_text="succeeded")
    await expect(done).to_have_count(7, timeout=15_000)
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1
    await expect(page.locator('[data-count="succeeded"]')).to_contain_text("7")
    order = await rows.evaluate_all("rs => rs.map(r => r.dataset.job)")
    assert order == sorted(wiki + clicks)  # the daemon's page order, kept by the inserts
    await page.screenshot(path=shots / "jobs.png")

    # Filters: a datasource, an interval range, part of an id.
    await page.get_by_label("Datasource").fill("clicks")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(2)
    assert set(await rows.evaluate_all("rs => rs.map(r => r.dataset.job)")) == set(clicks)
    await page.get_by_role("button", name="Clear").click()
    await expect(rows).to_have_count(7)
    await page.get_by_label("Interval from").fill("2024-01-03")
    await page.get_by_label("to (inclusive)").fill("2024-01-04")
    await page.get_by_label("Datasource").fill("wikipedia")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(2)
    await page.get_by_role("button", name="Clear").click()
    await page.get_by_label("Job id").fill(wiki[2][-12:])
    await page.keyboard.press("Enter")
    await expect(rows).to_have_count(1)
    await page.get_by_role("link", name=wiki[2]).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(wiki[2])
    assert page.errors == []
