"""The shared directory of supervisors: one bulk read answers every caller within its age,
concurrent callers share one request, and each supervisor's datasource is known."""

from __future__ import annotations

import asyncio
from typing import Any

from actors.streams.directory import SupervisorDirectory
from overlord.client import HttpOverlord
from overlord.sim.server import Simulator


def _spec(supervisor_id: str, datasource: str) -> dict[str, Any]:
    return {
        "type": "kafka",
        "id": supervisor_id,
        "spec": {
            "dataSchema": {
                "dataSource": datasource,
                "timestampSpec": {"column": "ts"},
                "dimensionsSpec": {"dimensions": []},
                "granularitySpec": {"segmentGranularity": "HOUR"},
            },
            "ioConfig": {
                "topic": datasource,
                "consumerProperties": {"bootstrap.servers": "k:9092"},
            },
            "tuningConfig": {"type": "kafka"},
        },
    }


class Now:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_one_request_serves_every_caller_within_its_age(
    overlord: HttpOverlord, simulator: Simulator
) -> None:
    await overlord.create_supervisor(_spec("clicks-a", "clicks"))
    await overlord.create_supervisor(_spec("views", "views"))
    await overlord.create_supervisor(_spec("clicks-b", "clicks"))
    calls = 0
    inner = overlord.supervisor_states

    async def counted() -> Any:
        nonlocal calls
        calls += 1
        return await inner()

    overlord.supervisor_states = counted  # type: ignore[method-assign]
    now = Now()
    directory = SupervisorDirectory(overlord, now, max_age_s=5.0)
    first = await asyncio.gather(*(directory.writing("clicks") for _ in range(5)))
    assert first == [["clicks-a", "clicks-b"]] * 5
    assert calls == 1
    now.t = 4.0
    assert await directory.writing("views") == ["views"]
    assert calls == 1
    now.t = 6.0
    assert set(await directory.states()) == {"clicks-a", "clicks-b", "views"}
    assert calls == 2
    await overlord.terminate_supervisor("clicks-a")
    assert await directory.writing("clicks", max_age_s=0) == ["clicks-b"]
    assert calls == 3
