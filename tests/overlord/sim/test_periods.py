"""Intervals and durations written with ISO periods, as real specs and list filters write
them (`2016-06-27/P1D`, `createdTimeInterval=2023-06-27_P1D`, `taskDuration: P1D`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from overlord.sim.periods import parse_bounds, standard_seconds
from overlord.sim.server import SimConfig, Simulator
from tests.contract.test_supervisors import kafka_spec

SPECS = Path(__file__).resolve().parents[2] / "fixtures" / "druid-api" / "specs"
TASK = "/druid/indexer/v1/task"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def http() -> AsyncIterator[tuple[Simulator, TestClient]]:  # type: ignore[type-arg]
    sim = Simulator(SimConfig())
    async with TestClient(TestServer(sim.app())) as client:
        yield sim, client


@pytest.mark.parametrize(
    ("start", "end", "lo", "hi"),
    [
        ("2016-06-27", "P1D", "2016-06-27T00:00", "2016-06-28T00:00"),
        ("P1D", "2024-03-01", "2024-02-29T00:00", "2024-03-01T00:00"),
        ("2024-01-31", "P1M", "2024-01-31T00:00", "2024-02-29T00:00"),  # clamped, as Joda
        ("2023-01-01T06:00Z", "P1Y2M3DT4H", "2023-01-01T06:00", "2024-03-04T10:00"),
        ("2024-01-01", "2024-01-02", "2024-01-01T00:00", "2024-01-02T00:00"),
    ],
)
def test_either_end_of_an_interval_may_be_a_period(start: str, end: str, lo: str, hi: str) -> None:
    got = parse_bounds(start, end)
    assert got == (
        datetime.fromisoformat(lo).replace(tzinfo=UTC),
        datetime.fromisoformat(hi).replace(tzinfo=UTC),
    )


def test_two_periods_or_a_bad_period_are_refused() -> None:
    for start, end in (("P1D", "P2D"), ("2024-01-01", "P1X"), ("2024-01-01", "PT")):
        with pytest.raises(ValueError, match="period"):
            parse_bounds(start, end)


async def test_a_real_spec_with_a_period_interval_is_accepted_and_locks_that_day(
    http: tuple[Simulator, TestClient],  # type: ignore[type-arg]
) -> None:
    sim, client = http
    body = (SPECS / "index_parallel__docs_druid_input_source_hashed_rollup.json").read_bytes()
    response = await client.post(TASK, data=body, headers=JSON)
    assert response.status == 200, await response.text()
    task_id = (await response.json())["task"]
    spans = sim.cluster.tasks[task_id].intervals
    assert [span[2] for span in spans] == ["2016-06-27T00:00:00.000Z/2016-06-28T00:00:00.000Z"]


async def test_a_created_time_filter_may_end_with_a_period(
    http: tuple[Simulator, TestClient],  # type: ignore[type-arg]
) -> None:
    _sim, client = http
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    response = await client.get(f"/druid/indexer/v1/tasks?createdTimeInterval={today}_P1D")
    assert response.status == 200, await response.text()
    assert await response.json() == []


async def test_a_supervisor_task_duration_in_days_is_accepted_and_months_are_not(
    http: tuple[Simulator, TestClient],  # type: ignore[type-arg]
) -> None:
    _sim, client = http
    post = "/druid/indexer/v1/supervisor"
    daily = await client.post(post, data=json.dumps(kafka_spec(taskDuration="P1D")), headers=JSON)
    assert daily.status == 200, await daily.text()
    monthly = await client.post(
        post, data=json.dumps(kafka_spec("other", taskDuration="P1M")), headers=JSON
    )
    assert monthly.status == 400
    assert "no fixed length" in await monthly.text()
    assert standard_seconds("P2W") == 14 * 86400
