"""A person retries a dead job, as the design's "dead, alert, wait for a person" asks: the
job runs again under a new task id, survives a restart on the way, and says so in its
history; jobs that are live or succeeded are refused, from the API and the CLI too."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from actors.errors import NotRetryableError, UnknownJobError
from actors.orchestrator import Orchestrator
from actors.supervision.breakers import DatasourcePolicy
from eventlog.errors import StreamArchivedError, WriterLostError
from eventlog.events import JobDied, JobRetried, SubmitIntended
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from service.api import ControlApi
from tests.service.processes import cli, running, simulator
from tests.service.test_cli import PIPELINE, embedded
from tests.support import daily_jobs, fast_config, month_start


@pytest.fixture
def sim() -> Simulator:
    cluster = ClusterConfig(seed=9, workers=2, capacity_per_worker=4, min_duration_s=0.2)
    return Simulator(SimConfig(cluster=cluster))


async def test_a_dead_job_retried_runs_again_under_a_new_task_id_even_across_a_restart(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    job = daily_jobs(1, month_start(2024, 3))[0]
    # Its input is missing the first time; the person fixes it, then retries.
    sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
        "structural:missing_input",
        "success",
    ]
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        await orch.submit(job)
        dead = await orch.wait(job.job_id, timeout=20)
        assert dead.phase == "dead"
        view = await orch.retry(job.job_id, reason="input restored")
        assert view.phase in ("retry_wait", "submitting", "submitted", "running", "pending")
    # A restart right after: boot must find the job live again (its stream reopened).
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        done = await orch.wait(job.job_id, timeout=20)
        events = [r.event for r in await orch.history(job.job_id)]
        with pytest.raises(NotRetryableError, match="succeeded"):
            await orch.retry(job.job_id)
        with pytest.raises(UnknownJobError):
            await orch.retry("orch_no_such_job")
    assert done.phase == "succeeded"
    assert done.task_id == f"{job.job_id}_2"
    kinds = [type(e) for e in events]
    assert kinds.index(JobDied) < kinds.index(JobRetried)
    retried = next(e for e in events if isinstance(e, JobRetried))
    assert (retried.reason, retried.by) == ("input restored", "user")
    intents = [e.task_id for e in events if isinstance(e, SubmitIntended)]
    assert intents == [f"{job.job_id}_1", f"{job.job_id}_2"]
    assert sim.stats()["duplicate_submissions"] == 0


async def test_the_api_retries_a_dead_job_and_refuses_a_live_one_with_409(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    dead_job, live_job = daily_jobs(2, month_start(2024, 4))
    sim.cluster.config.scripted[f"{dead_job.datasource}/{dead_job.interval}"] = [
        "structural:missing_input",
        "success",
    ]
    sim.cluster.config.scripted[f"{live_job.datasource}/{live_job.interval}"] = ["success"]
    sim.cluster.config.min_duration_s = 0.2
    async with Orchestrator.open(tmp_path / "log.db", url, config=fast_config()) as orch:
        api = ControlApi()
        api.serve(orch)
        async with TestClient(TestServer(api.app())) as client:
            await orch.submit(dead_job)
            assert (await orch.wait(dead_job.job_id, timeout=20)).phase == "dead"
            await orch.submit(live_job)
            json_body = {"Content-Type": "application/json"}
            ok = await client.post(
                f"/v1/jobs/{dead_job.job_id}/retry",
                data=json.dumps({"reason": "fixed"}),
                headers=json_body,
            )
            assert ok.status == 200, await ok.text()
            assert (await ok.json())["job"]["job_id"] == dead_job.job_id
            refused = await client.post(f"/v1/jobs/{live_job.job_id}/retry", headers=json_body)
            assert refused.status == 409, await refused.text()
            assert "not dead or cancelled" in (await refused.json())["error"]
            garbled = await client.post(
                f"/v1/jobs/{dead_job.job_id}/retry", data=b"{nope", headers=json_body
            )
            assert garbled.status == 400
        assert (await orch.wait(dead_job.job_id, timeout=20)).phase == "succeeded"


async def test_the_cli_retries_dead_jobs_embedded(tmp_path: Path) -> None:
    sim = simulator(
        scripted={
            "wikipedia/2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z": [
                "structural:missing_input",
                "success",
            ]
        }
    )
    async with running(sim) as overlord:
        where = embedded(tmp_path, overlord)
        args = ["submit", PIPELINE, "--interval", "2024-01-01/2024-01-02", "--wait", "--json"]
        first = await cli(*args, *where)
        assert first.code == 1, first.err  # it ended dead
        (job,) = json.loads(first.out)["jobs"]
        assert job["phase"] == "dead"
        retried = await cli("retry", job["job_id"], "--reason", "input back", *where)
        assert retried.code == 0, retried.err
        again = await cli(*args, *where)  # the same submit now waits for the retried run
        refused = await cli("retry", job["job_id"], *where)
    assert again.code == 0, again.err
    assert json.loads(again.out)["jobs"][0]["phase"] == "succeeded"
    assert refused.code == 1
    assert "succeeded" in refused.err


async def test_a_retry_whose_writer_died_after_the_commit_still_starts_the_job(
    tmp_path: Path, url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = daily_jobs(1, month_start(2024, 5))[0]
    sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
        "structural:missing_input",
        "success",
    ]
    async with Orchestrator.open(tmp_path / "log.db", url, config=fast_config()) as orch:
        await orch.submit(job)
        assert (await orch.wait(job.job_id, timeout=20)).phase == "dead"
        real = orch.log.append

        async def lost_after_commit(*args: Any, **kwargs: Any) -> Any:
            result = await real(*args, **kwargs)
            if kwargs.get("reopen_stream"):
                raise WriterLostError("the writer died with the append in flight", how="killed")
            return result

        monkeypatch.setattr(orch.log, "append", lost_after_commit)
        await orch.retry(job.job_id)
        monkeypatch.setattr(orch.log, "append", real)
        done = await orch.wait(job.job_id, timeout=20)
        events = [r.event for r in await orch.history(job.job_id)]
    assert done.phase == "succeeded"
    assert sum(isinstance(e, JobRetried) for e in events) == 1, "recorded once, not twice"


async def test_a_job_that_retention_archived_cannot_be_retried_and_says_why(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    job = daily_jobs(1, month_start(2024, 7))[0]
    sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = ["structural:bad_spec"]
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        await orch.submit(job)
        assert (await orch.wait(job.job_id, timeout=20)).phase == "dead"
    async with SQLiteEventLog(db) as log:
        await archive_closed_streams(
            log, older_than=time.time() + 60, directory=tmp_path / "archive"
        )
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        with pytest.raises(StreamArchivedError):
            await orch.retry(job.job_id)


async def test_a_retry_into_a_paused_datasource_says_what_holds_it_until_resumed(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    jobs = daily_jobs(3, month_start(2024, 8))
    for job in jobs:
        sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
            "structural:missing_input",
            "success",
        ]
    db = tmp_path / "log.db"
    cfg = fast_config(datasource_breaker=DatasourcePolicy(structural_limit=3, recheck_s=0.1))
    async with Orchestrator.open(db, url, config=cfg) as orch:
        for job in jobs:
            await orch.submit(job)
        for job in jobs:
            assert (await orch.wait(job.job_id, timeout=20)).phase == "dead"
        assert "wikipedia" in orch.breakers.paused
        retried = await orch.retry(jobs[0].job_id, reason="input restored")
        assert retried.held is not None
        assert "datasource wikipedia is paused (3 structural failures" in retried.held
        assert "druid-orch resume wikipedia" in retried.held
        await asyncio.sleep(0.3)  # rechecks every 0.1 s: still held, never submitted
        held = await orch.get(jobs[0].job_id)
        assert held is not None
        assert (held.phase, held.attempt, held.held) == (retried.phase, 1, retried.held)
        # The log alone says so too: `status --db` reads it beside the running orchestrator.
        status = await cli("status", "--db", str(db), "--wide")
        assert status.code == 0, status.err
        rows = {line.split()[0]: line for line in status.out.splitlines()[1:-1]}
        assert "held: datasource wikipedia is paused" in rows[jobs[0].job_id]
        assert "held" not in rows[jobs[1].job_id]  # dead jobs wait for nothing
        assert orch.resume_datasource("wikipedia")
        done = await orch.wait(jobs[0].job_id, timeout=20)
    assert (done.phase, done.held) == ("succeeded", None)
