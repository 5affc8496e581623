"""Retention in the daemon: finished jobs' streams leave the log for archives on a schedule;
live jobs are untouched, finished ones are still found, and the chain verifies across."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.security.support import JSON, TEMPLATE
from tests.service.processes import DaemonProcess, cli, eventually, fast_config, running, simulator

RETENTION = "\n[eventlog.retention]\nkeep_days = 0\ninterval_s = 1.0\n"


async def jobs(http: aiohttp.ClientSession, url: str, intervals: list[str]) -> list[str]:
    body = json.dumps({"template": TEMPLATE, "intervals": intervals})
    async with http.post(f"{url}/v1/jobs", data=body, headers=JSON) as r:
        assert r.status == 202, await r.text()
        return [j["job_id"] for j in (await r.json())["jobs"]]


async def phase(http: aiohttp.ClientSession, url: str, job_id: str) -> str:
    async with http.get(f"{url}/v1/jobs/{job_id}") as r:
        assert r.status == 200, await r.text()
        found: str = (await r.json())["job"]["phase"]
        return found


async def until_phase(http: aiohttp.ClientSession, url: str, job_id: str, want: str) -> None:
    found: list[str] = []

    async def reached() -> bool:
        found.append(await phase(http, url, job_id))
        return found[-1] == want

    async with asyncio.timeout(20):
        while not await reached():  # noqa: ASYNC110 - a state in another process
            await asyncio.sleep(0.1)


async def test_a_daemon_archives_finished_jobs_and_leaves_live_ones_and_the_chain_whole(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    archive = tmp_path / "orch.db-archive"
    sim = simulator()
    async with running(sim) as overlord, aiohttp.ClientSession() as http:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db) + RETENTION)
        daemon = await DaemonProcess(config).start()
        try:
            finished = await jobs(http, daemon.url, ["2024-01-01/2024-01-04"])
            for job_id in finished:
                await until_phase(http, daemon.url, job_id, "succeeded")
            sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 600.0
            [live] = await jobs(http, daemon.url, ["2024-02-01/2024-02-02"])
            await eventually(lambda: archive.is_dir() and any(archive.iterdir()), 20)
            await asyncio.sleep(1.5)  # a pass after the live job is running
            assert await phase(http, daemon.url, live) in ("submitted", "pending", "running")
            for job_id in finished:  # archived, and still found through the read model
                assert await phase(http, daemon.url, job_id) == "succeeded"
        finally:
            result = await daemon.stop()
    assert result.code == 0, result.err
    verified = await cli("audit", "verify", "--db", str(db), "--archives")
    assert verified.code == 0, verified.out + verified.err
    again = await cli("audit", "compact", "--db", str(db), "--keep-days", "0")
    assert again.code == 0, again.err
    assert "archived 0 finished job streams" in again.out
