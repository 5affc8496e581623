"""A job's spec is recorded and held as its JSON bytes (what each attempt posts is checked by
test_supervision's retry test)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from actors.orchestrator import Orchestrator
from eventlog.events import JobAccepted, spec_dict
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.support import daily_jobs, fast_config, month_start


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=5, workers=2, capacity_per_worker=4, min_duration_s=0.2, max_duration_s=0.4
            )
        )
    )


def test_a_stored_spec_is_decoded_fresh_each_time() -> None:
    accepted = msgspec.json.decode(
        b'{"type":"job_accepted","at":1.0,"job_id":"j","datasource":"d","interval":"i",'
        b'"spec":{"type":"index_parallel","spec":{"ioConfig":{}}},"spec_hash":"h"}',
        type=JobAccepted,
    )
    first = spec_dict(accepted.spec)
    first["id"] = "changed"
    first["spec"]["ioConfig"]["x"] = 1
    assert spec_dict(accepted.spec) == {"type": "index_parallel", "spec": {"ioConfig": {}}}


def test_a_stored_spec_that_is_not_an_object_is_refused_at_decode() -> None:
    accepted = msgspec.json.decode(
        b'{"type":"job_accepted","at":1.0,"job_id":"j","datasource":"d","interval":"i",'
        b'"spec":[1,2],"spec_hash":"h"}',
        type=JobAccepted,
    )
    with pytest.raises(msgspec.ValidationError, match="Expected `object`"):
        spec_dict(accepted.spec)


async def test_a_new_job_starts_from_what_submit_recorded_without_reading_it_back(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    job = daily_jobs(1, month_start(2024, 11))[0]
    async with Orchestrator.open(tmp_path / "log.db", url, config=fast_config()) as orch:
        before = orch.log.read_stats.event_rows
        with capture_logs() as logged:
            view = await orch.submit(job)
        assert {"event": "job_accepted", "job_id": job.job_id, "phase": "accepted"} in [
            {k: e.get(k) for k in ("event", "job_id", "phase")} for e in logged
        ]
        assert view.phase in ("accepted", "submitting", "submitted")
        assert orch.log.read_stats.event_rows == before
        assert orch.states[job.job_id].spec is job.spec_json  # shared, not a copy
        assert (await orch.wait(job.job_id, timeout=20)).phase == "succeeded"
