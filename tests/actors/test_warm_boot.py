"""A boot handed a standby's warm cache (`actors.warm_start`) folds only the streams the
cache is behind on, and then drives every job as a cold boot would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.job.messages import Accept, Cancel
from actors.job.state import DRUID_LIVE, JobState
from actors.job.stream import JobStreams
from actors.orchestrator import Orchestrator
from actors.supervision.breakers import Breakers, DatasourcePolicy
from actors.warm_start import WarmStart, followed
from eventlog.sqlite.store import SQLiteEventLog
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.support import daily_jobs, fast_config


def accept_of(job: Any) -> Accept:
    return Accept(
        at=1e9,
        job_id=job.job_id,
        datasource=job.datasource,
        interval=job.interval,
        spec=job.spec_json,
        spec_hash=job.spec_hash,
        max_attempts=3,
    )


async def live(orch: Orchestrator, job_id: str) -> bool:
    view = await orch.get(job_id)
    return view is not None and view.phase in DRUID_LIVE


@pytest.fixture
def sim() -> Simulator:
    # Tasks that outlive the test: the jobs are live at every boot.
    return Simulator(
        SimConfig(cluster=ClusterConfig(seed=3, workers=16, min_duration_s=600, max_duration_s=900))
    )


async def test_a_warm_boot_folds_only_what_the_cache_missed_and_drives_every_job(
    tmp_path: Path, url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "log.db"
    jobs = daily_jobs(6, datetime(2024, 5, 1, tzinfo=UTC), max_sub_tasks=1)
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        for job in jobs:
            await orch.submit(job)
        async with asyncio.timeout(30):
            while not all([await live(orch, job.job_id) for job in jobs]):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    # The standby's view, then one more event it never sees (as if recorded after it
    # stopped following): the boot must fold that job from the log.
    warm = WarmStart()
    async with SQLiteEventLog(db) as log:
        await warm.prime(log)
        assert set(warm.jobs) == {job.job_id for job in jobs}
        behind = jobs[0].job_id
        await JobStreams(log).record(behind, Cancel(at=2e9, reason="while the standby looked away"))

    folded: list[str] = []
    load = JobStreams.load

    async def counted(self: JobStreams, job_id: str) -> JobState:
        folded.append(job_id)
        return await load(self, job_id)

    monkeypatch.setattr(JobStreams, "load", counted)
    with capture_logs() as logs:
        async with Orchestrator.open(db, url, config=fast_config(), warm=warm) as orch:
            await orch.wait(behind, timeout=30)
            views = {job.job_id: await orch.get(job.job_id) for job in jobs}
    assert folded == [behind]
    (said,) = [e for e in logs if e["event"] == "warm_start"]
    assert (said["jobs"], said["warm"]) == (6, 5)
    assert views[behind].phase == "cancelled"
    assert {views[j.job_id].phase for j in jobs[1:]} <= DRUID_LIVE
    stats = sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert stats["submissions"] == len(jobs)


async def test_breakers_restore_from_the_cache_only_at_the_streams_version(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        breakers = Breakers(
            log, lambda: 1000.0, datasource_policy=DatasourcePolicy(structural_limit=1)
        )
        breakers.record_structural("wiki", "the input data does not exist")
        await breakers.flush()
        warm = WarmStart()
        await warm.prime(log)
        (stream,) = warm.breakers
        # The cache's last event is of the stream's version: taken as it is, not read.
        restored = Breakers(log, lambda: 1000.0)
        await restored.restore(warm)
        assert list(restored.paused) == ["wiki"]
        # A person resumed meanwhile, unseen by the cache: the log's last event wins.
        breakers.resume("wiki", "ops")
        await breakers.flush()
        restored = Breakers(log, lambda: 1000.0)
        await restored.restore(warm)
        assert restored.paused == {}
        # And without a cache, the same answer from the stream's last event alone.
        cold = Breakers(log, lambda: 1000.0)
        await cold.restore()
        assert cold.paused == {}
        assert warm.breakers[stream][0] == 1


class FailingOnce:
    """A log whose first follow fails after the prime (a cut connection, say)."""

    def __init__(self, log: SQLiteEventLog) -> None:
        self.log = log
        self.failed = False

    def subscribe(self, after_seq: int = 0) -> Any:
        if not self.failed:
            self.failed = True
            raise ConnectionResetError("the connection was cut")
        return self.log.subscribe(after_seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


async def test_a_failed_follow_primes_again_and_folds_on(tmp_path: Path) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        job = daily_jobs(1, datetime(2024, 5, 1, tzinfo=UTC))[0]
        streams = JobStreams(log)
        await streams.record(job.job_id, accept_of(job))
        warm, primed = WarmStart(), asyncio.Event()
        primes: list[int] = []

        def on_primed(w: WarmStart) -> None:
            primes.append(len(w.jobs))
            if len(primes) == 2:
                primed.set()

        follower = asyncio.create_task(followed(FailingOnce(log), warm, on_primed))  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(primed.wait(), 5)
            moved = await streams.record(job.job_id, Cancel(at=2e9, reason="ops"))
            async with asyncio.timeout(5):
                while job.job_id in warm.jobs:  # noqa: ASYNC110 - folded by the follower
                    await asyncio.sleep(0.01)
        finally:
            follower.cancel()
        assert primes == [1, 1]
        assert moved.state.phase == "cancelled"
        assert warm.position >= 2
