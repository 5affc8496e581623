"""`Orchestrator.follow`: many jobs followed through the read model's change feed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from actors.errors import UnknownJobError
from actors.orchestrator import Orchestrator
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.support import daily_jobs, fast_config


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(cluster=ClusterConfig(seed=5, workers=4, min_duration_s=0.1, max_duration_s=0.4))
    )


async def test_follow_yields_each_job_until_all_end_even_one_that_ended_before(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    jobs = daily_jobs(40, datetime(2023, 3, 1, tzinfo=UTC))
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        first = await orch.submit(jobs[0])
        await orch.wait(first.job_id, timeout=30)
        for job in jobs[1:]:
            await orch.submit(job)
        seen: dict[str, list[str]] = {}
        async for view in orch.follow([job.job_id for job in jobs], poll_s=0.5):
            seen.setdefault(view.job_id, []).append(view.phase)
        finals = {job_id: phases[-1] for job_id, phases in seen.items()}
    assert finals == {job.job_id: "succeeded" for job in jobs}
    assert seen[jobs[0].job_id] == ["succeeded"]  # ended before: yielded once, as it is
    assert any(len(phases) > 1 for phases in seen.values())  # the others were followed


async def test_follow_refuses_a_job_never_recorded(tmp_path: Path, url: str) -> None:
    async with Orchestrator.open(tmp_path / "log.db", url, config=fast_config()) as orch:
        with pytest.raises(UnknownJobError, match="orch_nope"):
            async for _ in orch.follow(["orch_nope"]):
                pass
