"""Boot and periodic reconciliation against the simulator: outcomes, losses and orphans."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from actors.orchestrator import Orchestrator
from actors.poller import PollerConfig
from actors.ports import Overlord
from actors.reconcile import OrphanPolicy, Reconciler
from actors.stream_names import job_stream
from actors.supervision.slots import SlotPolicy
from eventlog.events import JobAccepted, ReconcileDecided, SubmitIntended, Submitted
from eventlog.sqlite.store import SQLiteEventLog
from overlord.client import HttpOverlord
from overlord.models import TaskStatusPlus
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import Faults, SimConfig, Simulator
from specs.compaction import DatasourceCompaction, compile_datasource_compaction
from specs.compiler import CompiledJob, task_id_for
from specs.intervals import Interval
from tests.service.processes import eventually
from tests.support import daily_jobs, fast_config, month_start


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=9, workers=4, capacity_per_worker=16, min_duration_s=0.4, max_duration_s=0.8
            )
        )
    )


async def decisions(db: Path) -> list[ReconcileDecided]:
    async with SQLiteEventLog(db) as log:
        return [
            r.event
            for r in await log.read_stream("reconcile")
            if isinstance(r.event, ReconcileDecided)
        ]


async def test_tasks_that_finished_while_we_were_down_are_recorded_at_boot_in_bulk(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    batch = daily_jobs(40, month_start(2022, 1))
    db = tmp_path / "log.db"
    # Tasks wait for their locks until we have closed, then run and finish unwatched.
    sim.set_faults(Faults(stuck_waiting_datasources=["wikipedia"]))
    # All 40 on the Overlord at once (this simulator runs no sub-tasks): their 3-slot claims
    # would exceed its 64 slots, so the slot gate is off.
    config = fast_config(slots=SlotPolicy(enabled=False))
    async with Orchestrator.open(db, url, config=config) as orch:
        for job in batch:
            await orch.submit(job)
        for _ in range(400):
            if all(orch.states[j.job_id].phase == "waiting" for j in batch):
                break
            await asyncio.sleep(0.02)
        assert all(orch.states[j.job_id].phase == "waiting" for j in batch)
    sim.set_faults(Faults(stuck_waiting_datasources=[]))
    for _ in range(400):
        if sim.stats()["live_tasks"] == 0:
            break
        await asyncio.sleep(0.05)
    assert sim.stats()["live_tasks"] == 0
    before = dict(sim.stats()["requests"])
    async with Orchestrator.open(
        db, url, config=fast_config(poller=PollerConfig(first_delay_s=60))
    ) as orch:
        report = orch.last_reconcile
        views = [await orch.wait(j.job_id, timeout=10) for j in batch]
    assert report is not None
    assert report.decisions.get("record-outcome") == 40
    assert all(v.phase == "succeeded" for v in views)
    after = sim.stats()["requests"]
    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    # One bulk status for all 40 ids, one listing for orphans; no per-task calls.
    assert spent.get("bulk_status") == 1
    assert spent.get("status", 0) == 0
    assert sum(d.decision == "record-outcome" for d in await decisions(db)) == 40


async def test_periodic_reconciliation_catches_a_task_the_overlord_lost(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 3.0
    job = daily_jobs(1, month_start(2022, 2))[0]
    db = tmp_path / "log.db"
    # The poller is made too slow to notice anything, so only reconciliation can.
    cfg = fast_config(poller=PollerConfig(first_delay_s=60, ceiling_s=60), reconcile_interval_s=0.3)
    async with Orchestrator.open(db, url, config=cfg) as orch:
        await orch.submit(job)
        for _ in range(100):
            if orch.states[job.job_id].phase == "submitted":
                break
            await asyncio.sleep(0.02)
        assert sim.cluster.forget_active() == 1  # an Overlord restart loses the task
        sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 0.2
        view = await orch.wait(job.job_id, timeout=20)
    assert view.phase == "succeeded"
    assert view.attempt == 2
    lost = [d for d in await decisions(db) if d.decision == "lost"]
    assert [d.task_id for d in lost] == [task_id_for(job.job_id, 1)]
    assert "404" in lost[0].evidence


async def _plant_orphan(url: str, job: CompiledJob) -> str:
    orphan = task_id_for(job.job_id, 2)
    async with HttpOverlord(url) as client:
        await client.submit({**job.spec, "id": orphan})
    return orphan


@pytest.mark.parametrize("policy", ["report", "adopt", "shutdown", "ignore"])
async def test_orphans_with_our_prefix_are_handled_by_policy(
    tmp_path: Path, url: str, sim: Simulator, policy: OrphanPolicy
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 1.0
    job = daily_jobs(1, month_start(2022, 3))[0]
    orphan = await _plant_orphan(url, job)
    async with HttpOverlord(url) as client:
        await client.submit(
            {**daily_jobs(1, month_start(2022, 4))[0].spec, "id": "someone_elses_task"}
        )
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config(orphans=policy)) as orch:
        report = orch.last_reconcile
        assert report is not None
        if policy == "adopt":
            view = await orch.wait(job.job_id, timeout=10)
            assert view.phase == "succeeded"
            assert view.task_id == orphan
    found = [d for d in await decisions(db) if d.decision.startswith("orphan")]
    if policy == "ignore":
        assert found == []
        assert report.orphans == []
        return
    assert report.orphans == [orphan]  # the other prefix is not ours
    assert [d.decision for d in found] == [f"orphan-{policy}"]
    task = sim.cluster.tasks[orphan]
    if policy == "shutdown":
        assert task.error_msg == "Shutdown request from user"
    if policy == "adopt":
        async with SQLiteEventLog(db) as log:
            events = [r.event for r in await log.read_stream(job_stream(job.job_id))]
        assert isinstance(events[0], JobAccepted)
        assert isinstance(events[1], SubmitIntended)
        assert isinstance(events[2], Submitted)
        assert events[2].adopted
        assert sim.stats()["duplicate_submissions"] == 0


def _orphan_warnings(logged: list[dict[str, Any]]) -> list[str]:
    return [e["task_id"] for e in logged if e["event"] == "orphan_task"]


@pytest.mark.parametrize("policy", ["report", "adopt", "shutdown"])
async def test_finished_tasks_with_our_prefix_are_history_not_orphans(
    tmp_path: Path, url: str, sim: Simulator, policy: OrphanPolicy
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 0.1
    finished = [await _plant_orphan(url, job) for job in daily_jobs(3, month_start(2022, 5))]
    await eventually(lambda: sim.stats()["live_tasks"] == 0)
    async with HttpOverlord(url) as client:
        listed = {row.id: row.status_code for row in await client.tasks()}
    # The Overlord still lists them (for a day), which is what made them look like orphans.
    assert {tid: listed.get(tid) for tid in finished} == dict.fromkeys(finished, "SUCCESS")
    db = tmp_path / "log.db"
    with capture_logs() as logged:
        async with Orchestrator.open(db, url, config=fast_config(orphans=policy)) as orch:
            reports = [orch.last_reconcile, await orch.reconcile(), await orch.reconcile()]
            assert orch.states == {}
    async with SQLiteEventLog(db) as log:
        assert await log.last_seq() == 0
    assert [r.orphans for r in reports if r is not None] == [[], [], []]
    assert _orphan_warnings(logged) == []


async def test_an_active_orphan_is_recorded_once_across_reconciles_and_restarts(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 60.0
    orphan = await _plant_orphan(url, daily_jobs(1, month_start(2022, 6))[0])
    db = tmp_path / "log.db"
    with capture_logs() as logged:
        async with Orchestrator.open(db, url, config=fast_config()) as orch:
            reports = [orch.last_reconcile, await orch.reconcile(), await orch.reconcile()]
        async with Orchestrator.open(db, url, config=fast_config()) as orch:
            reports.append(orch.last_reconcile)
            reports.append(await orch.reconcile())
    assert sim.cluster.tasks[orphan].active
    # Still reported on every run: it may hold locks and slots while it lives.
    assert [r.orphans for r in reports if r is not None] == [[orphan]] * 5
    found = [(d.task_id, d.decision) for d in await decisions(db)]
    assert found == [(orphan, "orphan-report")]
    assert _orphan_warnings(logged) == [orphan]


async def test_a_failed_orphan_shutdown_is_tried_again_and_each_outcome_recorded_once(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 60.0
    orphan = await _plant_orphan(url, daily_jobs(1, month_start(2022, 7))[0])
    sim.set_faults(Faults(error_rate={"shutdown": 1.0}, error_status=400))
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config(orphans="shutdown")) as orch:
        await orch.reconcile()
        assert sim.cluster.tasks[orphan].active
        sim.set_faults(Faults())
        await orch.reconcile()
        await eventually(lambda: not sim.cluster.tasks[orphan].active)
        last = await orch.reconcile()
    assert last.orphans == []
    found = [(d.task_id, d.decision) for d in await decisions(db)]
    assert found == [(orphan, "orphan-report"), (orphan, "orphan-shutdown")]
    assert "shutdown failed" in (await decisions(db))[0].evidence


class _ListsEverything:
    """An Overlord (or a proxy before it) that answers `GET /tasks` without honouring `max`."""

    def __init__(self, rows: list[TaskStatusPlus]) -> None:
        self.rows = rows

    async def tasks(self, **_filters: Any) -> list[TaskStatusPlus]:
        return self.rows


async def test_finished_rows_are_not_orphans_even_when_the_listing_includes_them(
    tmp_path: Path,
) -> None:
    done = TaskStatusPlus(id="orch_wikipedia_x_1", status_code="SUCCESS", runner_status_code="NONE")
    live = TaskStatusPlus(
        id="orch_wikipedia_y_1", status_code="RUNNING", runner_status_code="WAITING"
    )
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        reconciler = Reconciler(log, cast(Overlord, _ListsEverything([done, live])))
        report, _plan = await reconciler.run([])
    assert report.orphans == [live.id]
    assert [(d.task_id, d.evidence) for d in await decisions(tmp_path / "log.db")] == [
        (live.id, f"{live.id} carries our prefix but is not in the log (WAITING)")
    ]


async def test_a_reconcile_lists_the_active_tasks_once_for_runner_states_and_orphans(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 120
    batch = daily_jobs(3, month_start(2022, 5))
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        for job in batch:
            await orch.submit(job)
        await eventually(lambda: sim.stats()["live_tasks"] == 3)
    before = dict(sim.stats()["requests"])
    quiet = fast_config(poller=PollerConfig(first_delay_s=60, ceiling_s=60))
    async with Orchestrator.open(db, url, config=quiet) as orch:
        report = orch.last_reconcile
    assert report is not None
    assert report.decisions.get("in-sync") == 3
    spent = {k: v - before.get(k, 0) for k, v in sim.stats()["requests"].items()}
    assert spent.get("tasks") == 1, spent
    assert report.overlord_requests == 2  # one bulk status, one listing


async def test_an_adopted_compaction_task_keeps_its_datasource_and_interval(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 1.0
    request = DatasourceCompaction(datasource="wikipedia", segment_granularity="DAY")
    [job] = compile_datasource_compaction(request, Interval.parse("2022-03-01/2022-03-02"))
    orphan = await _plant_orphan(url, job)
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config(orphans="adopt")) as orch:
        view = await orch.wait(job.job_id, timeout=10)
    assert view.phase == "succeeded"
    assert view.task_id == orphan
    async with SQLiteEventLog(db) as log:
        accepted = (await log.read_stream(job_stream(job.job_id)))[0].event
    assert isinstance(accepted, JobAccepted)
    assert (accepted.datasource, accepted.interval) == ("wikipedia", job.interval)
