"""A log that refuses writes (a full disk): jobs wait, submissions are refused, nothing is lost.

The log is given a size quota (`eventlog_max_size_bytes`, SQLite's page quota), which fails
writes exactly as a full disk does; retention frees space, as an operator would.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actors.orchestrator import Orchestrator
from actors.recovery import Recovery
from actors.stream_names import job_stream
from eventlog.errors import EventLogUnavailableError
from eventlog.events import ActorCrashed, TaskSucceeded
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.service.processes import eventually
from tests.support import (
    FILL_LAST_PAGES,
    daily_jobs,
    fast_config,
    fill_until_refused,
    month_start,
    quota_with_room,
)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=11, workers=2, capacity_per_worker=4, min_duration_s=1.5, max_duration_s=2.0
            )
        )
    )


async def test_jobs_wait_out_a_full_log_and_finish_once_space_is_freed(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    config = fast_config(eventlog_max_size_bytes=await quota_with_room(db))
    running, refused = daily_jobs(2, month_start(2024, 10))
    async with Orchestrator.open(db, url, config=config) as orch:
        await orch.submit(running)
        await eventually(lambda: orch.states[running.job_id].phase == "running")
        await fill_until_refused(orch.log, FILL_LAST_PAGES)
        assert orch.log.writes_refused is not None

        # A job that cannot be recorded is refused, and left unknown: submitting it later is safe.
        with pytest.raises(EventLogUnavailableError, match="is full"):
            await orch.submit(refused)
        assert await orch.get(refused.job_id, missing_ok=True) is None
        # So is a cancellation, and the job carries on as it was.
        with pytest.raises(EventLogUnavailableError, match="is full"):
            await orch.cancel(running.job_id)
        assert orch.states[running.job_id].phase == "running"

        # The running task ends on the cluster meanwhile; its job cannot record that, and
        # waits: no crash is counted or recorded, and the job is not given up.
        supervisor = orch.supervisor_actor
        assert supervisor is not None
        await eventually(lambda: supervisor.stalls >= 2)  # the job retried its write
        assert supervisor.restarts == 0
        # Not held against the job: a real crash later must not find these in its history.
        assert running.job_id not in supervisor.crashes
        assert (await orch.get(running.job_id)).phase == "running"  # type: ignore[union-attr]

        # Space is freed (retention archives the filler); the job catches up by itself.
        await archive_closed_streams(
            orch.log, older_than=time.time() + 60, directory=tmp_path / "archive"
        )
        done = await orch.wait(running.job_id, timeout=30)
        assert done.phase == "succeeded"
        assert orch.log.writes_refused is None

        again = await orch.submit(refused)
        assert again.phase != "new"
        assert (await orch.wait(refused.job_id, timeout=30)).phase == "succeeded"

    async with SQLiteEventLog(db) as log:
        events = [r.event for r in await log.read_stream(job_stream(running.job_id))]
        assert not any(isinstance(e, ActorCrashed) for e in events)
        assert sum(isinstance(e, TaskSucceeded) for e in events) == 1
        report = await log.verify(archives=True)
        assert report.ok, report.broken


async def test_a_periodic_reconcile_the_log_refuses_is_tried_again_next_round(
    tmp_path: Path, url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = fast_config(reconcile_interval_s=0.05)
    async with Orchestrator.open(tmp_path / "log.db", url, config=config) as orch:
        calls = 0

        async def refused(_recovery: Recovery) -> None:
            nonlocal calls
            calls += 1
            raise EventLogUnavailableError("the event log is full; free disk space, then retry")

        monkeypatch.setattr(Recovery, "reconcile", refused)
        await eventually(lambda: calls >= 3)
        job = daily_jobs(1, month_start(2024, 12))[0]
        await orch.submit(job)  # still running
        assert (await orch.wait(job.job_id, timeout=20)).phase == "succeeded"


async def test_an_orchestrator_boots_on_a_full_log_and_catches_up_once_space_is_freed(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    config = fast_config(eventlog_max_size_bytes=await quota_with_room(db))
    job = daily_jobs(1, month_start(2025, 2))[0]
    async with Orchestrator.open(db, url, config=config) as orch:
        await orch.submit(job)
        await eventually(lambda: orch.states[job.job_id].phase == "running")
        await fill_until_refused(orch.log, FILL_LAST_PAGES)
    # The task finishes while the orchestrator is down, so boot has something to record.
    task_id = orch.states[job.job_id].task_id
    assert task_id is not None
    await eventually(lambda: sim.cluster.tasks[task_id].status == "SUCCESS", timeout=10)

    async with Orchestrator.open(db, url, config=config) as orch:
        assert orch.states[job.job_id].phase == "running"  # as recorded; nothing is lost
        assert orch.last_reconcile is not None
        assert "is full" in (orch.last_reconcile.error or "")
        await eventually(lambda: orch.log.writes_refused is not None)

        await archive_closed_streams(
            orch.log, older_than=time.time() + 60, directory=tmp_path / "archive"
        )
        assert (await orch.wait(job.job_id, timeout=30)).phase == "succeeded"

    async with SQLiteEventLog(db) as log:
        events = [r.event for r in await log.read_stream(job_stream(job.job_id))]
        assert sum(isinstance(e, TaskSucceeded) for e in events) == 1
        assert not any(isinstance(e, ActorCrashed) for e in events)
