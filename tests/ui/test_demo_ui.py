"""`druid-orch demo --ui` as a newcomer runs it: the demo's jobs settle, the console's URL is
printed, the page shows the jobs (the structural failure among them) in a browser, also at a
phone's width and in dark mode, and Ctrl-C ends it all cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.service.processes import ROOT, clean_env


async def test_demo_ui_keeps_the_console_up_until_ctrl_c(browser: Any, shots: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "service.cli.main", "demo", "--ui", "--jobs", "10"),
        cwd=ROOT,
        env=clean_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(60):
            while not (lines and lines[-1].startswith("web console: ")):
                raw = await proc.stdout.readline()
                assert raw, f"the demo ended before printing the console's URL: {lines}"
                lines.append(raw.decode().rstrip("\n"))
        url = lines[-1].removeprefix("web console: ")
        assert url.endswith("/ui/")

        context = await browser.new_context(
            viewport={"width": 390, "height": 844}, color_scheme="dark"
        )
        page = await context.new_page()
        await page.goto(url)  # no token: the demo's API listens on loopback without one
        await expect(page.locator("tbody tr[data-job]")).to_have_count(10)
        await expect(page.locator("tbody .badge", has_text="dead")).to_have_count(1)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px phone"
        await page.screenshot(path=shots / "jobs-phone-dark.png")
        await page.get_by_role("link", name="Coverage").click()
        await expect(page.locator(".calendar a.cell")).to_have_count(10)
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.screenshot(path=shots / "coverage-dark.png")
        # The demo's Overlord client is counted as the daemon's is: its calls show in Health.
        await page.get_by_role("link", name="Health").click()
        total = page.locator("[data-http-total]")
        await expect(total).not_to_have_attribute("data-http-total", "0")
        assert int(await total.get_attribute("data-http-total") or 0) >= 20  # 10 jobs' calls
        await context.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
