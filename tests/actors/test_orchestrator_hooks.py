"""What embedders and the service read from a running orchestrator, without its internals:
a listener hears every recorded transition, and every job of the log can be listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.job.stream import Transition
from actors.orchestrator import Orchestrator
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.support import daily_jobs, fast_config, month_start


@pytest.fixture
def sim() -> Simulator:
    cluster = ClusterConfig(seed=3, workers=1, capacity_per_worker=4, min_duration_s=0.1)
    return Simulator(SimConfig(cluster=cluster))


async def test_a_listener_hears_every_recorded_transition_until_it_stops(
    tmp_path: Path, url: str
) -> None:
    first, second = daily_jobs(2, month_start(2024, 2))
    db = tmp_path / "log.db"
    heard: list[Transition] = []
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        stop = orch.listen(heard.append)
        await orch.submit(first)
        done = await orch.wait(first.job_id, timeout=20)
        stop()
        await orch.submit(second)
        await orch.wait(second.job_id, timeout=20)
        history = [r.event for r in await orch.history(first.job_id)]
    assert done.phase == "succeeded"
    assert {t.job_id for t in heard} == {first.job_id}
    assert [e for t in heard for e in t.events] == history
    assert heard[-1].state.version == len(history)
    assert all(t.append_s > 0 for t in heard)


async def test_all_jobs_include_those_only_the_log_remembers(tmp_path: Path, url: str) -> None:
    jobs = daily_jobs(2, month_start(2024, 4))
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        for job in jobs:
            await orch.submit(job)
        finals = [await orch.wait(job.job_id, timeout=20) for job in jobs]
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        assert orch.jobs() == []  # finished jobs are not folded at boot
        everything = await orch.all_jobs()
        assert orch.log_health().failure is None
        assert orch.write_stats().events == 0  # this run recorded nothing
    assert sorted(v.job_id for v in everything) == sorted(v.job_id for v in finals)
    assert all(v.phase == "succeeded" for v in everything)
