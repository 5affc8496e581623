"""The bulk status poller against the simulator."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from actors.job.messages import RecordLost, RecordStatus
from actors.poller import PollerConfig, StatusPoller, Unwatch, Watch
from actors.runtime import Actor, ActorRef, spawn
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import Faults, SimConfig, Simulator

SYNC = "sync"


class Collector(Actor[Any]):
    mailbox_size = 100_000

    def __init__(self) -> None:
        self.messages: list[RecordStatus | RecordLost] = []
        self.arrived = asyncio.Event()

    async def receive(self, message: Any) -> None:
        if message == SYNC:
            return
        self.messages.append(message)
        self.arrived.set()


def task(task_id: str, day: int) -> dict[str, Any]:
    return {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": {
                "dataSource": "wiki",
                "granularitySpec": {"intervals": [f"2024-01-{day:02d}/2024-01-{day + 1:02d}"]},
            },
            "ioConfig": {"type": "index_parallel", "inputSource": {"type": "inline", "data": ""}},
        },
    }


@pytest.fixture
def slow_sim() -> Simulator:
    # Tasks that stay RUNNING for the whole test unless a test says otherwise.
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                workers=4, capacity_per_worker=400, min_duration_s=3600, max_duration_s=3600
            )
        )
    )


@pytest.fixture
async def client(slow_sim: Simulator) -> AsyncIterator[tuple[HttpOverlord, Simulator]]:
    server = TestServer(slow_sim.app())
    await server.start_server()
    overlord = HttpOverlord(
        str(server.make_url("")).rstrip("/"), retry=RequestRetryPolicy(attempts=1)
    )
    try:
        yield overlord, slow_sim
    finally:
        await overlord.close()
        await server.close()


async def until_running(sim: Simulator, task_id: str) -> None:
    """Let a task reach a worker first: its runner state moving on would be a real change."""
    for _ in range(500):
        if sim.cluster.tasks[task_id].runner == "RUNNING":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{task_id} never started")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def start(
    tg: asyncio.TaskGroup, overlord: HttpOverlord, clock: FakeClock, **config: Any
) -> tuple[StatusPoller, ActorRef[Any], Collector, ActorRef[Any]]:
    poller = StatusPoller(
        overlord, config=PollerConfig(**config), clock=clock, rng=random.Random(1)
    )
    poller_ref = await spawn(tg, poller, name="poller")
    if poller._loop_task is not None:  # tests drive rounds by hand with a fake clock
        poller._loop_task.cancel()
    collector = Collector()
    collector_ref = await spawn(tg, collector, name="collector")
    return poller, poller_ref, collector, collector_ref


async def settle(ref: ActorRef[Any]) -> None:
    """Wait until everything told to `ref` so far has been handled (an ask queues behind it)."""
    await ref.ask(Unwatch(SYNC) if "poller" in ref.name else SYNC)


async def test_requests_per_round_grow_by_chunks_not_by_tasks(
    client: tuple[HttpOverlord, Simulator],
) -> None:
    overlord, sim = client
    for n in range(250):
        await overlord.submit(task(f"t{n}", 1 + n % 27))
    clock = FakeClock()
    async with asyncio.TaskGroup() as tg:
        poller, poller_ref, collector, collector_ref = await start(
            tg, overlord, clock, chunk=100, first_delay_s=0.1
        )
        for n in range(250):
            await poller_ref.send(Watch(f"t{n}", collector_ref))
        await settle(poller_ref)
        before = sim.stats()["requests"]
        clock.now += 1
        await poller.poll_round()
        after = sim.stats()["requests"]
        assert after.get("bulk_status", 0) - before.get("bulk_status", 0) == 3  # ceil(250/100)
        assert after.get("tasks", 0) - before.get("tasks", 0) <= 1
        assert after.get("status", 0) == before.get("status", 0)
        await settle(collector_ref)
        assert len(collector.messages) == 250  # first sighting of each: a change
        poller_ref.stop()
        collector_ref.stop()


async def test_watchers_hear_only_about_changes(client: tuple[HttpOverlord, Simulator]) -> None:
    overlord, sim = client
    await overlord.submit(task("only", 1))
    await until_running(sim, "only")
    clock = FakeClock()
    async with asyncio.TaskGroup() as tg:
        poller, poller_ref, collector, collector_ref = await start(
            tg, overlord, clock, first_delay_s=0.1, ceiling_s=0.4, phase_refresh_s=0.0
        )
        await poller_ref.send(Watch("only", collector_ref))
        await settle(poller_ref)
        for _ in range(5):
            clock.now += 10
            await poller.poll_round()
        await settle(collector_ref)
        assert len(collector.messages) == 1
        first = collector.messages[0]
        assert isinstance(first, RecordStatus)
        assert first.status == "RUNNING"
        sim.cluster.shutdown("only")
        clock.now += 10
        await poller.poll_round()
        await settle(collector_ref)
        assert [m.status for m in collector.messages if isinstance(m, RecordStatus)] == [
            "RUNNING",
            "FAILED",
        ]
        assert "only" not in poller.entries  # terminal: no longer watched
        poller_ref.stop()
        collector_ref.stop()


async def test_a_task_missing_from_the_bulk_answer_is_confirmed_before_it_is_lost(
    client: tuple[HttpOverlord, Simulator],
) -> None:
    overlord, sim = client
    clock = FakeClock()
    async with asyncio.TaskGroup() as tg:
        poller, poller_ref, collector, collector_ref = await start(tg, overlord, clock)
        await poller_ref.send(Watch("ghost", collector_ref))
        await settle(poller_ref)
        clock.now += 10
        await poller.poll_round()
        await settle(collector_ref)
        assert sim.stats()["requests"].get("status") == 1  # the single confirming call
        assert len(collector.messages) == 1
        assert isinstance(collector.messages[0], RecordLost)
        assert "404" in collector.messages[0].evidence
        poller_ref.stop()
        collector_ref.stop()


async def test_cadence_backs_off_while_nothing_changes_and_resets_on_a_change(
    client: tuple[HttpOverlord, Simulator],
) -> None:
    overlord, sim = client
    await overlord.submit(task("steady", 1))
    await until_running(sim, "steady")
    clock = FakeClock()
    async with asyncio.TaskGroup() as tg:
        poller, poller_ref, _collector, collector_ref = await start(
            tg, overlord, clock, first_delay_s=1.0, ceiling_s=8.0, factor=2.0, jitter=0.0
        )
        await poller_ref.send(Watch("steady", collector_ref))
        await settle(poller_ref)
        intervals = []
        for _ in range(6):
            clock.now = poller.entries["steady"].next_due
            await poller.poll_round()
            intervals.append(poller.entries["steady"].interval)
        assert intervals == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
        await poller_ref.send(Unwatch("steady"))
        await settle(poller_ref)
        assert "steady" not in poller.entries
        poller_ref.stop()
        collector_ref.stop()


async def test_an_unreachable_overlord_backs_polling_off_and_reports_nothing(
    client: tuple[HttpOverlord, Simulator],
) -> None:
    overlord, sim = client
    await overlord.submit(task("t", 1))
    sim.set_faults(Faults(outage_s=60))
    clock = FakeClock()
    async with asyncio.TaskGroup() as tg:
        poller, poller_ref, collector, collector_ref = await start(
            tg, overlord, clock, first_delay_s=0.5, ceiling_s=2.0
        )
        await poller_ref.send(Watch("t", collector_ref))
        await settle(poller_ref)
        due = []
        for _ in range(4):
            clock.now = poller.entries["t"].next_due
            await poller.poll_round()
            due.append(poller.entries["t"].next_due - clock.now)
        await settle(collector_ref)
        assert collector.messages == []
        assert due[-1] > due[0]  # backing off
        assert poller.stats.errors == 4
        poller_ref.stop()
        collector_ref.stop()


async def test_a_round_that_breaks_half_way_leaves_every_task_on_the_schedule(
    client: tuple[HttpOverlord, Simulator],
) -> None:
    overlord, sim = client
    await overlord.submit(task("kept", 1))
    await until_running(sim, "kept")
    clock = FakeClock()
    async with asyncio.TaskGroup() as tg:
        poller, poller_ref, collector, collector_ref = await start(tg, overlord, clock)
        await poller_ref.send(Watch("kept", collector_ref))
        await settle(poller_ref)

        async def broken(_ids: Any) -> Any:
            raise RuntimeError("a bug in the middle of a round")

        real = poller.overlord.bulk_status
        poller.overlord.bulk_status = broken  # type: ignore[method-assign]
        clock.now += 10
        with pytest.raises(RuntimeError):
            await poller.poll_round()
        poller.overlord.bulk_status = real  # type: ignore[method-assign]
        clock.now += 10
        await poller.poll_round()
        await settle(collector_ref)
        assert [m.status for m in collector.messages if isinstance(m, RecordStatus)] == ["RUNNING"]
        poller_ref.stop()
        collector_ref.stop()
