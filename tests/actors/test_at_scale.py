"""Hundreds of jobs through the real actors against the simulator, and what the log says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.job.actor import Deadlines, JobPolicy
from actors.job.evolve import fold
from actors.job.state import JobState
from actors.orchestrator import Orchestrator
from actors.stream_names import job_stream
from actors.supervision.breakers import DatasourcePolicy
from actors.supervision.slots import SlotPolicy
from eventlog.events import (
    FailureClassified,
    JobAccepted,
    PhaseDeadlineExceeded,
    ShutdownIntended,
    SubmitIntended,
    Submitted,
)
from eventlog.sqlite.store import SQLiteEventLog
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import Faults, SimConfig, Simulator
from service.demo import demo_config
from tests.support import daily_jobs, fast_config


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=21,
                workers=8,
                capacity_per_worker=8,
                min_duration_s=0.2,
                max_duration_s=0.8,
                transient_rate=0.2,
            )
        )
    )


async def test_hundreds_of_jobs_run_concurrently_and_each_log_tells_the_whole_story(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    jobs = daily_jobs(300, datetime(2023, 1, 1, tzinfo=UTC))
    broken = {job.job_id for job in jobs[::60]}
    for job in jobs:
        if job.job_id in broken:
            sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
                "structural:parse_errors"
            ]
    db = tmp_path / "log.db"
    # Five structural failures in one datasource would pause it (that breaker has its own
    # test); here every job must run.
    config = fast_config(datasource_breaker=DatasourcePolicy(structural_limit=len(broken) + 1))
    async with Orchestrator.open(db, url, config=config) as orch:
        live_states: dict[str, JobState] = {}
        orch.listen(lambda t: live_states.__setitem__(t.job_id, t.state))
        for job in jobs:
            await orch.submit(job)
        views = {job.job_id: await orch.wait(job.job_id, timeout=120) for job in jobs}
        assert orch.states == {}, "finished jobs stay in memory"
    stats = sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1
    for job_id, view in views.items():
        assert view.phase == ("dead" if job_id in broken else "succeeded"), view
    retried = 0
    async with SQLiteEventLog(db) as log:
        for job in jobs:
            events = [r.event for r in await log.read_stream(job_stream(job.job_id))]
            assert isinstance(events[0], JobAccepted)
            assert fold(events) == live_states[job.job_id]
            intents = {(e.attempt, e.task_id) for e in events if isinstance(e, SubmitIntended)}
            for event in events:
                if isinstance(event, Submitted):
                    assert (event.attempt, event.task_id) in intents
            failures = [e for e in events if isinstance(e, FailureClassified)]
            retried += sum(f.classification == "transient" for f in failures)
            if job.job_id in broken:
                assert [f.rule for f in failures] == ["parse-errors"]
    assert retried > 20  # about a fifth of 300 attempts fail transiently


async def test_cancelling_jobs_shuts_their_tasks_down_and_cancelling_twice_is_harmless(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 120
    sim.cluster.config.transient_rate = 0.0
    jobs = daily_jobs(30, datetime(2023, 6, 1, tzinfo=UTC))
    db = tmp_path / "log.db"
    # All 25 live at once (this simulator runs no sub-tasks): their 3-slot claims would exceed
    # its 64 slots, so the slot gate is off.
    config = msgspec.structs.replace(demo_config(), slots=SlotPolicy(enabled=False))
    async with Orchestrator.open(db, url, config=config) as orch:
        early = jobs[:5]
        for job in early:  # cancelled before or while being submitted
            await orch.submit(job)
            await orch.cancel(job.job_id)
        for job in jobs[5:]:
            await orch.submit(job)
        for _ in range(400):
            phases = [(await orch.get(j.job_id)).phase for j in jobs[5:]]
            if all(p in ("waiting", "pending", "running") for p in phases):
                break
            await asyncio.sleep(0.025)
        for job in jobs[5:]:
            await orch.cancel(job.job_id)
        for job in jobs[5:15]:
            await orch.cancel(job.job_id)  # again
        views = [await orch.wait(j.job_id, timeout=30) for j in jobs]
    assert [v.phase for v in views] == ["cancelled"] * len(jobs)
    tasks = sim.cluster.tasks
    for view in views[5:]:
        assert tasks[view.task_id].status == "FAILED"
        assert tasks[view.task_id].error_msg == "Shutdown request from user"
    assert sim.stats()["live_tasks"] == 0
    async with SQLiteEventLog(db) as log:
        for job in jobs[5:15]:
            events = [r.event for r in await log.read_stream(job_stream(job.job_id))]
            assert sum(isinstance(e, ShutdownIntended) for e in events) == 1


async def test_a_task_stuck_waiting_for_locks_is_caught_by_its_deadline_and_retried(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.transient_rate = 0.0
    sim.set_faults(Faults(stuck_waiting_datasources=["wikipedia"]))
    job = daily_jobs(1, datetime(2023, 9, 1, tzinfo=UTC))[0]
    base = demo_config()
    config = fast_config(
        job=JobPolicy(
            retry=base.job.retry,
            submit_retry=base.job.submit_retry,
            report_retry_s=0.05,
            deadlines=Deadlines(waiting_s=0.6),
        ),
    )
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=config) as orch:
        await orch.submit(job)
        updates: list[Any] = []

        async def follow() -> None:
            async for update in orch.watch(job.job_id):
                updates.append(update)
                if "phase_deadline_exceeded" in update.events:
                    sim.set_faults(Faults(stuck_waiting_datasources=[]))

        follower = asyncio.create_task(follow())
        view = await orch.wait(job.job_id, timeout=30)
        await follower
    assert view.phase == "succeeded"
    assert view.attempt == 2
    async with SQLiteEventLog(db) as log:
        events = [r.event for r in await log.read_stream(job_stream(job.job_id))]
    exceeded = [e for e in events if isinstance(e, PhaseDeadlineExceeded)]
    assert len(exceeded) == 1
    assert exceeded[0].phase == "waiting"
    assert exceeded[0].elapsed_s > 0.6
    shutdowns = [e for e in events if isinstance(e, ShutdownIntended)]
    assert [s.reason for s in shutdowns] == ["deadline"]
    classified = [e for e in events if isinstance(e, FailureClassified)]
    assert [(c.rule, c.classification) for c in classified] == [("phase-deadline", "transient")]
    assert updates[-1].job.phase == "succeeded"
