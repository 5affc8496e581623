"""The web console's browser tests: a real daemon process with a bearer token, the real
simulator on a real port, and Debian's Chromium driven by Playwright.

Chromium comes from the `chromium` package (`make test` installs it when missing; Playwright's
own browser download needs a CDN this machine cannot reach). Without it the tests skip on a
developer's machine, and fail under `CI=true`, where they must run.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.service.processes import ROOT, DaemonProcess, fast_config, running

TOKEN = "ui-test-token-Hq4"
DRUID_CONSOLE = "http://druid.example:8888/unified-console.html"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PIPELINE = ROOT / "specs" / "pipelines" / "wikipedia.toml"


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        message = "Chromium is not installed (apt-get install -y chromium; `make test` does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Stack:
    """A daemon (`url`, behind `TOKEN`) and the simulator it drives (`sim`)."""

    url: str
    sim: Simulator
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def submit(self, intervals: list[str], datasource: str = "wikipedia") -> list[str]:
        """Jobs of the example pipeline (for `datasource`) over `intervals`; their ids."""
        template = tomllib.loads(PIPELINE.read_text())
        template["pipeline"]["datasource"] = datasource
        status, body = await self.call(
            "POST", "/v1/jobs", {"template": template, "intervals": intervals}
        )
        assert status == 202, body
        return [job["job_id"] for job in body["jobs"]]


def cluster(**config: Any) -> Simulator:
    base: dict[str, Any] = {
        "seed": 3,
        "workers": 4,
        "capacity_per_worker": 4,
        "min_duration_s": 0.3,
        "max_duration_s": 0.6,
    }
    return Simulator(SimConfig(cluster=ClusterConfig(**{**base, **config})))


@pytest.fixture
async def stack(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    marker = request.node.get_closest_marker("cluster")
    sim = cluster(**(marker.kwargs if marker else {}))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        text = fast_config(
            overlord,
            tmp_path / "orch.db",
            overlord_extra=f'console_url = "{DRUID_CONSOLE}"',
            api_extra=f'token_file = "{token_file}"',
        )
        # Warnings only: the daemon's stderr is read at the end, and debug lines fill the pipe.
        config.write_text(text.replace('"debug"', '"warning"'))
        daemon = await DaemonProcess(config).start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Stack(daemon.url, sim, http)
        finally:
            stopped = await daemon.stop()
        assert stopped.code == 0, stopped.err[-2000:]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster(**config): the simulated cluster's settings")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: `docs/screenshots` with UI_SCREENSHOTS=1 (`make screenshots`,
    which refreshes the README's pictures), else a temporary folder, so `make test` takes
    them too without changing the tree."""
    if os.environ.get("UI_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


async def open_console(browser: Any, url: str, *, width: int = 1280, height: int = 800) -> Any:
    """A fresh tab (its own session storage) on the console, the token entered once."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    await page.goto(url + "/ui/")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Use", exact=True).click()
    return page
