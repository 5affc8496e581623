"""The read model's "done when", as a user meets it: a real daemon process, the real
simulator on a real port, and the CLI as a subprocess.

* A half-year daily backfill (200 jobs) with `submit --wait --api` follows the daemon's
  change feed, so no request names the jobs (it used to put 200 ids in one URL, past the
  server's 8 KiB request line, and every poll got 400).
* After a restart, `status JOB --api` finds a job that finished before it, `GET /v1/jobs`
  lists the finished jobs a page at a time without `all=1`, and `druid_orch_jobs` counts
  them, the dead one included (the gauge used to drop to 0 on every boot).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp

from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.service.processes import DaemonProcess, cli, fast_config, running
from tests.service.test_cli import PIPELINE

BACKFILL = "2023-01-01/2023-07-20"  # 200 days
DEAD_DAY = "wikipedia/2023-03-03T00:00:00.000Z/2023-03-04T00:00:00.000Z"


def busy_cluster() -> Simulator:
    cluster = ClusterConfig(
        seed=5,
        workers=8,
        capacity_per_worker=8,
        min_duration_s=0.05,
        max_duration_s=0.15,
        scripted={DEAD_DAY: ["structural:missing_input"]},
    )
    return Simulator(SimConfig(cluster=cluster))


async def get(url: str, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url + path) as response:
        body = await response.read()
        return response.status, json.loads(body) if path != "/metrics" else body.decode()


async def test_a_200_job_backfill_waits_through_the_api_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    async with running(busy_cluster()) as overlord:
        config = tmp_path / "orch.toml"
        # Warnings only: DaemonProcess reads stderr at the end, and 200 jobs' debug lines
        # would fill the pipe and stop the daemon mid-write.
        config.write_text(fast_config(overlord, db).replace('"debug"', '"warning"'))
        daemon = await DaemonProcess(config).start()
        try:
            args = ["submit", PIPELINE, "--interval", BACKFILL, "--api", daemon.url]
            result = await cli(*args, "--wait", "--json", timeout=240)
            assert result.code == 1, result.err  # one job ended dead, as scripted
            assert "accepted 200 jobs" in result.err
            final = json.loads(result.out)["jobs"]
            assert len(final) == 200
            phases = [j["phase"] for j in final]
            assert (phases.count("succeeded"), phases.count("dead")) == (199, 1)
            assert "1 of 200 jobs ended dead or cancelled" in result.err
            finished = next(j["job_id"] for j in final if j["phase"] == "succeeded")
            dead = next(j["job_id"] for j in final if j["phase"] == "dead")
        finally:
            stopped = await daemon.stop()
        assert stopped.code == 0, stopped.err[-2000:]

        daemon = await DaemonProcess(config).start()
        try:
            status = await cli("status", finished, "--api", daemon.url, "--json")
            assert status.code == 0, status.err
            (shown,) = json.loads(status.out)["jobs"]
            assert (shown["job_id"], shown["phase"]) == (finished, "succeeded")
            code, one = await get(daemon.url, f"/v1/jobs/{dead}")
            assert code == 200
            assert one["job"]["phase"] == "dead"
            assert one["events"][0]["type"] == "job_accepted"
            code, page = await get(daemon.url, "/v1/jobs?phase=dead")
            assert [j["job_id"] for j in page["jobs"]] == [dead]
            # Every job of earlier runs, a page at a time, with no `all=1`.
            seen: list[str] = []
            cursor = ""
            while True:
                code, page = await get(daemon.url, f"/v1/jobs?limit=64{cursor}")
                assert code == 200
                assert len(page["jobs"]) <= 64
                seen += [j["job_id"] for j in page["jobs"]]
                if page["next"] is None:
                    break
                cursor = f"&cursor={page['next']}"
            assert len(seen) == len(set(seen)) == 200
            code, same = await get(daemon.url, "/v1/jobs?all=1&limit=1000")
            assert [j["job_id"] for j in same["jobs"]] == seen
            _, metrics = await get(daemon.url, "/metrics")
            counts = dict(re.findall(r'druid_orch_jobs\{phase="(\w+)"\} (\d+)', metrics))
            assert (counts["succeeded"], counts["dead"]) == ("199", "1")
            listed = await cli("status", "--api", daemon.url, "--phase", "dead", "--json")
            assert [j["job_id"] for j in json.loads(listed.out)["jobs"]] == [dead]
            calendar = await cli(
                "coverage",
                "wikipedia",
                "--api",
                daemon.url,
                "--from",
                "2023-02-26",
                "--to",
                "2023-03-06",
            )
            assert calendar.code == 0, calendar.err
            assert "2023-02                           SSS\n2023-03  SSDSS\n" in calendar.out
        finally:
            stopped = await daemon.stop()
        assert stopped.code == 0
    local = await cli("status", "--db", str(db), "--phase", "dead", "--json")
    assert [j["job_id"] for j in json.loads(local.out)["jobs"]] == [dead], local.err
    everything = await cli("status", "--db", str(db), "--json")
    assert [j["job_id"] for j in json.loads(everything.out)["jobs"]] == seen
    calendar = await cli("coverage", "wikipedia", "--db", str(db))
    assert calendar.out.splitlines()[3] == "2023-03  SSDSSSSSSSSSSSSSSSSSSSSSSSSSSSS"
    assert "199 succeeded, 1 dead" in calendar.out
