"""Workers and capacity, lock queries, and the Coordinator's coverage of a datasource."""

from __future__ import annotations

import pytest

from overlord.models import LockFilter
from overlord.sim.server import SimConfig

from .conftest import MakeTarget, Target, fast_cluster, noop
from .support import eventually

DAY = "2024-03-01T00:00:00.000Z/2024-03-02T00:00:00.000Z"


def batch(task_id: str, interval: str = DAY, **tuning: object) -> dict[str, object]:
    """An index_parallel task over one interval (the simulator does not read the input)."""
    return {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": {
                "dataSource": "wikipedia",
                "timestampSpec": {"column": "time", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["page"]},
                "granularitySpec": {"segmentGranularity": "DAY", "intervals": [interval]},
            },
            "ioConfig": {
                "type": "index_parallel",
                "inputSource": {"type": "http", "uris": ["https://example.com/wiki.json.gz"]},
                "inputFormat": {"type": "json"},
            },
            "tuningConfig": {"type": "index_parallel", **tuning},
        },
    }


async def test_workers_and_total_capacity_agree_on_slots(target: Target) -> None:
    client = target.client()
    workers = await client.workers()
    capacity = await client.total_capacity()
    assert workers
    assert capacity.current_cluster_capacity == sum(w.worker.capacity for w in workers)
    assert capacity.used_cluster_capacity == sum(w.curr_capacity_used for w in workers)
    assert capacity.maximum_capacity_with_auto_scale == -1 or target.real
    assert all(w.free_slots <= w.worker.capacity for w in workers)


async def test_running_tasks_occupy_worker_slots_until_they_end(make_target: MakeTarget) -> None:
    target = await make_target(SimConfig(cluster=fast_cluster(workers=2, capacity_per_worker=1)))
    client = target.client()
    ids = [await client.submit(noop(f"slot{n}", run_ms=60_000)) for n in range(3)]
    capacity = await eventually(client.total_capacity, lambda c: c.used_cluster_capacity == 2)
    assert capacity.current_cluster_capacity == 2
    workers = await client.workers()
    assert sorted(t for w in workers for t in w.running_tasks) == sorted(ids[:2])
    assert all(w.curr_capacity_used_by_task_type == {"noop": 1} for w in workers)
    third = await client.status(ids[2])
    assert third.runner_status_code == "PENDING"
    await client.shutdown(ids[0])
    await eventually(lambda: client.status(ids[2]), lambda s: s.runner_status_code == "RUNNING")


async def test_locks_of_a_running_batch_task_are_reported_by_both_lock_endpoints(
    make_target: MakeTarget,
) -> None:
    target = await make_target(
        SimConfig(cluster=fast_cluster(min_duration_s=30, max_duration_s=30))
    )
    client = target.client()
    task_id = await client.submit(batch("holds_a_lock"))
    await eventually(lambda: client.status(task_id), lambda s: s.runner_status_code == "RUNNING")
    locked = await client.locked_intervals([LockFilter(datasource="wikipedia", priority=0)])
    assert locked == {"wikipedia": [DAY]}
    assert await client.locked_intervals([{"datasource": "wikipedia", "priority": 90}]) == {}
    assert await client.locked_intervals([{"datasource": "other"}]) == {}
    locks = await client.active_locks([LockFilter(datasource="wikipedia")])
    (lock,) = locks["wikipedia"]
    assert lock.group_id == task_id
    assert lock.interval == DAY
    assert lock.type == "EXCLUSIVE"
    assert lock.granularity == "timeChunk"
    assert lock.priority == 50
    assert not lock.revoked


async def test_lock_queries_without_a_filter_are_refused_with_plain_text(target: Target) -> None:
    for path in ("/druid/indexer/v1/lockedIntervals/v2", "/druid/indexer/v1/activeLocks"):
        raw = await target.raw("POST", path, body=[])
        assert raw.status == 400
        assert raw.body == b"No filter provided"


async def test_a_task_waits_for_locks_held_by_another_group_and_runs_once_they_are_released(
    make_target: MakeTarget,
) -> None:
    target = await make_target(
        SimConfig(cluster=fast_cluster(min_duration_s=30, max_duration_s=30))
    )
    client = target.client()
    first = await client.submit(batch("first_holder"))
    await eventually(lambda: client.status(first), lambda s: s.runner_status_code == "RUNNING")
    second = await client.submit(batch("waits_its_turn"))
    waiting = await eventually(client.tasks, lambda rows: any(r.id == second for r in rows))
    row = next(r for r in waiting if r.id == second)
    assert row.runner_status_code == "WAITING"
    assert row.queue_insertion_time == "1970-01-01T00:00:00.000Z"
    assert [r.id for r in await client.tasks(state="waiting")] == [second]
    await client.shutdown(first)
    await eventually(lambda: client.status(second), lambda s: s.runner_status_code == "RUNNING")


async def test_coverage_of_an_unknown_datasource_is_none_rather_than_an_error(
    target: Target,
) -> None:
    if target.real and target.coordinator_url is None:
        pytest.skip("set DRUID_COORDINATOR_URL to check the Coordinator")
    client = target.client()
    assert await client.datasource_coverage("druid_orch_contract_never_ingested") is None
    assert await client.datasource_intervals("druid_orch_contract_never_ingested") == []


async def test_coverage_reports_the_intervals_of_successful_batch_tasks_newest_first(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    client = target.client()
    days = [f"2024-03-0{d}T00:00:00.000Z/2024-03-0{d + 1}T00:00:00.000Z" for d in (1, 2, 3)]
    ids = [await client.submit(batch(f"cover{n}", day)) for n, day in enumerate(days)]
    await eventually(
        lambda: client.bulk_status(ids), lambda s: all(v.status == "SUCCESS" for v in s.values())
    )
    coverage = await client.datasource_coverage("wikipedia")
    assert coverage is not None
    assert coverage.segments.count == 3
    assert coverage.segments.min_time == "2024-03-01T00:00:00.000Z"
    assert coverage.segments.max_time == "2024-03-04T00:00:00.000Z"
    assert await client.datasource_intervals("wikipedia") == list(reversed(days))
