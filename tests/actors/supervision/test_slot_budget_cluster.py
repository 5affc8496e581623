"""Parallel jobs on a cramped cluster: the slot budget keeps them from deadlocking it.

The simulator runs each parallel task's splits as sub-tasks needing slots of their own, as
Druid does; a parent holds its slot while its sub-tasks wait for theirs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from actors.orchestrator import Orchestrator
from actors.supervision.slots import SlotPolicy
from overlord.client import HttpOverlord
from overlord.errors import OverlordRejectedError
from overlord.models import TotalWorkerCapacity
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from service.api import ControlApi
from service.metrics import Metrics
from specs.compiler import CompiledJob, builtin_template, compile_job
from specs.intervals import Interval
from tests.service.processes import cli, eventually
from tests.support import daily_jobs, fast_config

SLOTS = 6
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=7,
                workers=2,
                capacity_per_worker=SLOTS // 2,
                sub_tasks=True,
                sub_task_splits=4,
                min_duration_s=0.2,
                max_duration_s=0.4,
            )
        )
    )


async def wait_all(orch: Orchestrator, jobs: list[CompiledJob], timeout: float) -> list[str]:
    async with asyncio.timeout(timeout):
        return [(await orch.wait(job.job_id)).phase for job in jobs]


async def test_a_parallel_backfill_on_a_small_cluster_runs_to_the_end_within_its_slots(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    jobs = daily_jobs(8, START)  # maxNumConcurrentSubTasks = 2: 3 slots each
    # Without queueing sequential attempts in Druid, the claims never pass the capacity.
    config = fast_config(slots=SlotPolicy(queue_sequential=False))
    async with Orchestrator.open(tmp_path / "log.db", url, config=config) as orch:
        for job in jobs:
            await orch.submit(job)
        phases = await wait_all(orch, jobs, timeout=60)
        assert orch.slots.peak <= SLOTS
        assert orch.slots.claims == {}
    assert phases == ["succeeded"] * len(jobs)
    stats = sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert stats["submissions"] == len(jobs)


async def test_without_the_slot_budget_the_same_backfill_deadlocks_the_cluster(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    jobs = daily_jobs(8, START)
    config = fast_config(slots=SlotPolicy(enabled=False))
    async with Orchestrator.open(tmp_path / "log.db", url, config=config) as orch:
        for job in jobs:
            await orch.submit(job)
        with pytest.raises(TimeoutError):
            await wait_all(orch, jobs, timeout=6)
        # Every slot is held by a parent whose sub-tasks wait for one.
        assert sim.stats()["slots"] == {"capacity": SLOTS, "used": SLOTS}
        assert all(not orch.states[j.job_id].terminal for j in jobs)


async def test_a_job_waiting_for_slots_says_so_in_its_view_and_under_status(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 3.0
    jobs = daily_jobs(3, START)
    reason = "waiting for worker slots: this orchestrator's parallel jobs hold 6 of 6; it needs 3"
    token_file = tmp_path / "token"
    token_file.write_text("slots-token\n")
    config = fast_config(slots=SlotPolicy(adaptive=False))  # each job claims its compiled 3
    async with Orchestrator.open(tmp_path / "log.db", url, config=config) as orch:
        for job in jobs:
            await orch.submit(job)
        views = [await orch.get(j.job_id) for j in jobs]
        held = [v for v in views if v is not None and v.held is not None]
        assert [(v.phase, v.held) for v in held] == [("accepted", reason)], views
        api = ControlApi(token="slots-token")
        api.serve(orch)
        runner, api_url = await api.start("127.0.0.1", 0)
        try:
            status = await cli(
                "status", "--wide", "--api", api_url, "--token-file", str(token_file)
            )
        finally:
            await runner.cleanup()
        assert status.code == 0, status.err
        # --wide: the row, with the whole reason (a terminal's width would cut it).
        [row] = [line for line in status.out.splitlines() if line.startswith(held[0].job_id)]
        assert row.endswith(f"held: {reason}")
        metrics = Metrics()
        metrics.bind(orch)
        text = metrics.render().decode()
        for line in (
            "druid_orch_slots_claimed 6.0",
            "druid_orch_slots_capacity 6.0",
            "druid_orch_jobs_waiting_for_slots 1.0",
        ):
            assert line in text, text
        assert (await wait_all(orch, jobs, timeout=60)) == ["succeeded"] * len(jobs)
        assert all(v.held is None for v in orch.jobs())
        text = metrics.render().decode()
        assert "druid_orch_slots_claimed 0.0" in text
        assert "druid_orch_jobs_waiting_for_slots 0.0" in text


async def test_claims_are_restored_after_a_restart_in_the_middle_of_a_backfill(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    # Long enough that the tasks submitted before the restart are still running after it.
    sim.cluster.config.min_duration_s, sim.cluster.config.max_duration_s = 1.0, 1.2
    jobs = daily_jobs(8, START)
    db = tmp_path / "log.db"
    config = fast_config(slots=SlotPolicy(adaptive=False))  # each job claims its compiled 3
    async with Orchestrator.open(db, url, config=config) as orch:
        for job in jobs:
            await orch.submit(job)
        await eventually(lambda: len(orch.slots.claims) == 2)
        before = dict(orch.slots.claims)
    # Their Druid tasks run on while the orchestrator is down.
    async with Orchestrator.open(db, url, config=config) as orch:
        restored = {
            job_id: orch.slots.claims.get(job_id)
            for job_id, state in orch.states.items()
            if state.phase in ("submitting", "submitted", "waiting", "pending", "running")
        }
        assert set(before) <= set(restored)
        assert all(claim == 3 for claim in restored.values())
        phases = await wait_all(orch, jobs, timeout=60)
        assert orch.slots.peak <= SLOTS
    assert phases == ["succeeded"] * len(jobs)
    assert sim.stats()["duplicate_submissions"] == 0


async def test_sequential_jobs_are_all_submitted_at_once_as_before(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 1.5
    jobs = daily_jobs(8, START, max_sub_tasks=1)  # sequential: one slot each, more than slots
    async with Orchestrator.open(tmp_path / "log.db", url, config=fast_config()) as orch:
        for job in jobs:
            await orch.submit(job)
        await eventually(lambda: sim.submissions == len(jobs), timeout=5)
        assert not any(orch.states[j.job_id].terminal for j in jobs)
        assert orch.slots.claims == {}
        assert orch.slots.held == {}
        assert (await wait_all(orch, jobs, timeout=60)) == ["succeeded"] * len(jobs)


class NoCapacityOverlord(HttpOverlord):
    """An Overlord without `/totalWorkerCapacity` (or one that will not say)."""

    async def total_capacity(self) -> TotalWorkerCapacity:
        raise OverlordRejectedError(
            "total_capacity: GET /druid/indexer/v1/totalWorkerCapacity answered 404",
            endpoint="total_capacity",
            status=404,
        )


async def test_with_the_capacity_unknown_parallel_jobs_are_submitted_at_once_as_before(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 0.5
    jobs = daily_jobs(3, START)  # 9 slots of 6: gated, one would wait
    overlord = NoCapacityOverlord(url)
    try:
        async with Orchestrator.open(tmp_path / "log.db", overlord, config=fast_config()) as orch:
            for job in jobs:
                await orch.submit(job)
            await eventually(lambda: sim.submissions == len(jobs), timeout=5)
            assert orch.slots.capacity is None
            assert orch.slots.held == {}
    finally:
        await overlord.close()


async def test_an_adaptive_backfill_runs_each_attempt_at_its_recorded_m_across_a_restart(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s, sim.cluster.config.max_duration_s = 0.6, 0.8
    jobs = four_file_jobs(8)  # compiled at 4: 5 slots each, of 6
    db = tmp_path / "log.db"
    config = fast_config(slots=SlotPolicy(queue_sequential=False))  # claims within capacity
    async with Orchestrator.open(db, url, config=config) as orch:
        for job in jobs:
            await orch.submit(job)
        await eventually(lambda: len(orch.slots.claims) >= 2)
        assert orch.slots.claimed <= SLOTS  # two ran side by side where one fitted at m = 4
    async with Orchestrator.open(db, url, config=config) as orch:
        phases = await wait_all(orch, jobs, timeout=60)
        views = [await orch.get(job.job_id) for job in jobs]
    assert phases == ["succeeded"] * len(jobs)
    assert sim.stats()["duplicate_submissions"] == 0
    recorded = {view.task_id: view.sub_tasks for view in views if view is not None and view.task_id}
    assert all(m is not None and 1 <= m <= 4 for m in recorded.values()), recorded
    for task_id, m in recorded.items():
        payload = sim.cluster.tasks[task_id].payload
        assert payload["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"] == m


def four_file_jobs(count: int) -> list[CompiledJob]:
    """Daily jobs of the built-in pipeline, each reading four files (up to four sub-tasks)."""
    uris = [f"https://data.example.com/wikipedia/{{date}}-{part}.json.gz" for part in range(4)]
    template = msgspec.structs.replace(
        builtin_template(), max_sub_tasks=4, input={"type": "http", "uris": uris}
    )
    return [
        compile_job(template, Interval(START + timedelta(days=n), START + timedelta(days=n + 1)))
        for n in range(count)
    ]
