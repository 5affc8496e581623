"""The read model as the orchestrator writes it: every recorded transition leaves the job's
row equal to the fold of its stream, and a boot on a log from before the read model fills
it before any actor records."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from actors.job.summary import folded_summaries
from actors.orchestrator import Orchestrator
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.projection.schema import MARK_FOR_REBUILD
from eventlog.summaries import SummaryQuery
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.support import daily_jobs, fast_config, month_start


@pytest.fixture
def sim() -> Simulator:
    cluster = ClusterConfig(seed=3, workers=2, capacity_per_worker=4, min_duration_s=0.1)
    return Simulator(SimConfig(cluster=cluster))


def rows_and_fold(db: Path) -> tuple[dict[str, object], dict[str, object]]:
    with OfflineLog.open(db) as log:
        return dict(log.checkable_summaries()), dict(folded_summaries(log.records()))


async def test_every_job_row_equals_the_fold_of_its_stream_after_a_run(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    jobs = daily_jobs(6, month_start(2024, 5))
    sim.cluster.config.scripted[f"{jobs[0].datasource}/{jobs[0].interval}"] = [
        "transient:lost_worker",
        "success",
    ]
    sim.cluster.config.scripted[f"{jobs[1].datasource}/{jobs[1].interval}"] = [
        "structural:missing_input"
    ]
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        for job in jobs:
            await orch.submit(job)
        for job in jobs:
            await orch.wait(job.job_id, timeout=30)
        page = await orch.log.job_summaries(SummaryQuery(phases=("dead",)))
        assert [s.job_id for s in page.jobs] == [jobs[1].job_id]
    rows, fold = rows_and_fold(db)
    assert len(rows) == 6
    assert rows == fold
    retried = rows[f"job:{jobs[0].job_id}"]
    assert (retried.phase, retried.attempt) == ("succeeded", 2)  # type: ignore[attr-defined]


async def test_a_boot_on_a_log_from_before_the_read_model_fills_it_first(
    tmp_path: Path, url: str
) -> None:
    jobs = daily_jobs(3, month_start(2024, 6))
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        for job in jobs:
            await orch.submit(job)
        await orch.wait(jobs[0].job_id, timeout=30)
    # What the migration leaves: an empty table, marked to be filled.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM job_summaries")
        conn.executescript(MARK_FOR_REBUILD)
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        assert not await orch.log.summaries_need_rebuild()
        found = await orch.log.job_summary(jobs[0].job_id)
        assert found is not None
        assert found.phase == "succeeded"
        for job in jobs:
            await orch.wait(job.job_id, timeout=30)
    rows, fold = rows_and_fold(db)
    assert len(rows) == 3
    assert rows == fold
