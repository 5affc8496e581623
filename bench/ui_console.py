"""The web console under load, measured in Chromium with the Performance API.

    python -m bench.ui_console [--jobs 10000] [--burst 1000] [--repeat 5] [--json OUT]

Two questions of issue 25, each against a baseline in the same run:

The daemon (`druid-orch run`) and the simulator run in processes of their own.

* **Load**: every view (Jobs, Job, Coverage, Health) opened by URL in a fresh page, timed
  from navigation start (`performance.now()`, read in the page on the first frame its
  content is in the DOM), on a log of
  `--jobs` finished jobs (one datasource: its coverage is `--jobs` days, the largest calendar)
  and on a log of 100 (the baseline); the median of `--repeat` loads each.
* **Responsiveness**: the Jobs view open on the datasource a `--burst` of new jobs is
  submitted to, while they all run to the end on the simulator (every one of them changes
  phase five times or more, and the page inserts and updates their rows from the change
  feed); against the same burst while the page shows another datasource (the orchestrator
  and simulator, in this process, load the machine alike), and the page idle. Measured in
  the page: long tasks
  (`PerformanceObserver('longtask')`: their count, the longest, total blocking time), the
  worst lateness of a 50 ms timer, and the input latency of keys typed every 250 ms
  (Event Timing: `PerformanceObserver('event')`, the longest `duration`).

Chromium is Debian's (`/usr/bin/chromium`, or `$CHROMIUM`). The machine is shared: compare
ratios within one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "specs" / "pipelines" / "wikipedia.toml"
VIEWS = {
    "jobs": ("#/jobs", "tbody tr[data-job]"),
    "job": ("#/job/{job}", "dl[aria-label=Job]"),
    "coverage": ("#/coverage?ds=ds0", ".calendar a.cell"),
    "health": ("#/health", ".card [data-breaker]"),
}
# When the Coverage view asked for its jobs, had its answer, and drew its first rows.
MARKS = """() => Object.fromEntries(performance.getEntriesByType("mark")
  .filter((m) => m.name.startsWith("coverage-"))
  .map((m) => [m.name.slice("coverage-".length), m.startTime]))"""
OBSERVE = """() => {
  const perf = { long: [], lateness: 0, events: [] };
  new PerformanceObserver((list) => list.getEntries().forEach((e) => perf.long.push(e.duration)))
    .observe({ type: "longtask" });
  new PerformanceObserver((list) => list.getEntries().forEach((e) => perf.events.push(e.duration)))
    .observe({ type: "event", durationThreshold: 16 });
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    perf.lateness = Math.max(perf.lateness, now - last - 50);
    last = now;
  }, 50);
  window.__perf = perf;
}"""


def build(path: Path, jobs: int) -> None:
    """`jobs` finished jobs of one datasource (`ds0`), one a day, written with summaries."""
    import bench.read_model as read_model

    read_model._DATASOURCES = 1  # one datasource: the largest coverage calendar
    read_model.build_log(path, jobs)
    path.chmod(0o600)


@contextlib.asynccontextmanager
async def daemon(path: Path) -> AsyncIterator[str]:
    """`druid-orch run` on `path` in a process of its own (as it runs for real: nothing of
    this process, Playwright's client included, shares its event loop), its control API on a
    free loopback port, driving a fast simulator in a third process."""
    from bench.read_model_sim import simulator_process
    from tests.service.processes import DaemonProcess, fast_config

    with simulator_process() as overlord:
        config = path.with_suffix(".toml")
        text = fast_config(overlord, path).replace('"debug"', '"error"')
        config.write_text(text)
        process = await DaemonProcess(config).start(timeout=120)
        try:
            yield process.url
        finally:
            await process.stop()


async def first_job(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url + "/v1/jobs?limit=1") as r:
        return str((await r.json())["jobs"][0]["job_id"])


async def load_times(browser: Any, url: str, repeat: int) -> dict[str, float]:
    job = await first_job(url)
    samples: dict[str, list[float]] = {name: [] for name in VIEWS}
    for _ in range(repeat):
        for name, (route, selector) in VIEWS.items():
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(f"{url}/ui/{route.format(job=job)}")
            # Read in the page when the selector first matches (polled every frame), not after
            # a round trip back to this process.
            seen = await page.wait_for_function(
                f"() => document.querySelector({selector!r}) && performance.now()",
                polling="raf",
                timeout=30_000,
            )
            samples[name].append(await seen.json_value())
            if name == "coverage":
                marks = await page.evaluate(MARKS)
                for mark, at in marks.items():
                    samples.setdefault(f"coverage_{mark}", []).append(at)
            await page.close()
    found = {name: round(statistics.median(values)) for name, values in samples.items()}
    # The daemon keeps a calendar's cells while its log does not change: the first load of
    # the Coverage view is the one that reads every row.
    found["coverage_first"] = round(samples["coverage"][0])
    return found


async def watch(page: Any, seconds_or_until: Any) -> dict[str, float]:
    """Observe the open page while `seconds_or_until` runs, typing a key every 250 ms."""
    await page.evaluate(OBSERVE)
    search = page.get_by_label("Job id")
    task = asyncio.ensure_future(seconds_or_until)
    started = time.monotonic()
    while not task.done():
        await search.press("x")
        await search.press("Backspace")
        await asyncio.sleep(0.25)
    await task
    await asyncio.sleep(1.0)  # the last answers drawn
    perf = await page.evaluate("window.__perf")
    long = perf["long"]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "long_tasks": len(long),
        "longest_task_ms": round(max(long, default=0.0), 1),
        "total_blocking_ms": round(sum(max(0.0, d - 50) for d in long), 1),
        "timer_lateness_ms": round(perf["lateness"], 1),
        "input_latency_ms": round(max(perf["events"], default=0.0), 1),
        "inputs_over_16ms": len(perf["events"]),
    }


async def burst(url: str, count: int, datasource: str) -> float:
    """Submit `count` daily jobs of `datasource` and wait for all of them to end."""
    from datetime import date, timedelta

    template = tomllib.loads(PIPELINE.read_text())
    template["pipeline"]["datasource"] = datasource
    first = date(2000, 1, 1)
    days = [first + timedelta(days=i) for i in range(count + 1)]
    intervals = [f"{a}/{b}" for a, b in itertools.pairwise(days)]
    start = time.monotonic()
    async with aiohttp.ClientSession() as http:
        body = {"template": template, "intervals": intervals}
        async with http.post(url + "/v1/jobs", json=body) as response:
            assert response.status == 202, await response.text()
        while True:
            query = f"/v1/jobs?datasource={datasource}&terminal=false&limit=1"
            async with http.get(url + query) as response:
                if not (await response.json())["jobs"]:
                    return time.monotonic() - start
            await asyncio.sleep(0.5)


async def responsiveness(browser: Any, url: str, count: int) -> dict[str, Any]:
    """The Jobs view following a burst, against two baselines: the same burst while the page
    shows another datasource (the daemon and simulator load this machine alike, the page has
    next to nothing to draw), and the page idle."""
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(f"{url}/ui/#/jobs?datasource=ds0")
    await page.wait_for_selector("tbody tr[data-job]")
    elsewhere = await watch(page, burst(url, count, "burst_a"))
    await page.goto(f"{url}/ui/#/jobs?datasource=burst_b")
    await page.reload()
    await page.wait_for_selector("tbody td.empty")
    following = await watch(page, burst(url, count, "burst_b"))
    rows = await page.locator("tbody tr[data-job]").count()
    done = await page.locator("tbody .badge", has_text="succeeded").count()
    idle = await watch(page, asyncio.sleep(following["seconds"]))
    await page.close()
    return {
        "following_the_burst": following,
        "burst_elsewhere": elsewhere,
        "idle": idle,
        "rows_shown": rows,
        "rows_succeeded": done,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from service import logging_setup

    logging_setup.configure("warning", fmt="console")
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    result: dict[str, Any] = {"jobs": args.jobs, "burst": args.burst, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp:
        small, large = Path(tmp) / "small.db", Path(tmp) / "large.db"
        started = time.monotonic()
        build(small, 100)
        build(large, args.jobs)
        result["build_s"] = round(time.monotonic() - started, 1)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox"]
            )
            try:
                async with daemon(small) as url:
                    result["load_ms_100"] = await load_times(browser, url, args.repeat)
                async with daemon(large) as url:
                    result[f"load_ms_{args.jobs}"] = await load_times(browser, url, args.repeat)
                    result["responsiveness"] = await responsiveness(browser, url, args.burst)
            finally:
                await browser.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
