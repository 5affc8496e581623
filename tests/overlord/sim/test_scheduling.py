"""The simulated cluster's scheduling: WAITING -> PENDING -> RUNNING as locks and slots free
up, FIFO order, locks shared within a group, stuck datasources, sub-tasks that take slots of
their own, and restarts that forget or fail running tasks."""

from __future__ import annotations

import asyncio
from typing import Any

from overlord.sim.cluster import ClusterConfig, SimCluster
from overlord.sim.server import Faults, SimConfig, Simulator
from tests.contract.support import until


def spec(
    task_id: str, interval: str | None = "2024-01-01/2024-01-02", **tuning: Any
) -> dict[str, Any]:
    granularity = {"intervals": [interval]} if interval else {}
    return {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": {"dataSource": "wiki", "granularitySpec": granularity},
            "tuningConfig": {"type": "index_parallel", **tuning},
        },
    }


def cluster(**overrides: Any) -> SimCluster:
    settings: dict[str, Any] = {"min_duration_s": 60, "max_duration_s": 60, "lock_delay_s": 0}
    settings.update(overrides)
    return SimCluster(ClusterConfig(**settings))


def runners(c: SimCluster, *ids: str) -> list[str]:
    return [c.tasks[i].runner for i in ids]


async def test_tasks_move_from_waiting_to_pending_to_running_as_slots_free_up() -> None:
    c = cluster(workers=1, capacity_per_worker=2, lock_delay_s=0.05)
    ids = [f"t{n}" for n in range(4)]
    for n, task_id in enumerate(ids):
        c.add(task_id, spec(task_id, f"2024-01-0{n + 1}/2024-01-0{n + 2}"), "wiki")
    assert runners(c, *ids) == ["WAITING"] * 4
    # Each task's lock delay runs from its own creation, so under load they need not all
    # have left WAITING when the first two start: wait for both counts.
    await until(lambda: c.runner_counts["RUNNING"] == 2 and c.runner_counts["PENDING"] == 2)
    assert runners(c, *ids) == ["RUNNING", "RUNNING", "PENDING", "PENDING"]
    assert c.tasks["t2"].queue_inserted is not None
    c.shutdown("t1")
    assert runners(c, *ids[2:]) == ["RUNNING", "PENDING"], "first come, first served"
    c.shutdown("t0")
    assert runners(c, "t3") == ["RUNNING"]
    assert c.used == 2
    c.cancel_timers()


async def test_overlapping_intervals_wait_in_order_and_each_release_admits_the_next() -> None:
    c = cluster()
    for n in range(3):
        c.add(f"same{n}", spec(f"same{n}"), "wiki")
    c.add("other_day", spec("other_day", "2024-01-02/2024-01-03"), "wiki")
    c.add("overlaps", spec("overlaps", "2023-12-31T12:00/2024-01-01T12:00"), "wiki")
    await until(lambda: c.runner_counts["RUNNING"] == 2)
    assert runners(c, "same0", "same1", "same2", "other_day", "overlaps") == [
        "RUNNING",
        "WAITING",
        "WAITING",
        "RUNNING",
        "WAITING",
    ]
    c.shutdown("same0")
    # same1 (first in its queue) and overlaps (its own queue) both conflicted only with same0,
    # but once same1 holds the day, overlaps conflicts with it again.
    assert runners(c, "same1", "same2") == ["RUNNING", "WAITING"]
    assert c.tasks["overlaps"].runner == "WAITING"
    c.shutdown("same1")
    c.shutdown("same2")
    assert c.tasks["overlaps"].runner == "RUNNING"
    c.cancel_timers()


async def test_tasks_of_one_group_share_their_locks() -> None:
    c = cluster()
    c.add("a", {**spec("a"), "groupId": "shared"}, "wiki")
    c.add("b", {**spec("b"), "groupId": "shared"}, "wiki")
    await until(lambda: c.runner_counts["RUNNING"] == 2)
    c.cancel_timers()


async def test_a_stuck_datasource_keeps_its_tasks_waiting_until_the_fault_is_lifted() -> None:
    sim = Simulator(SimConfig(cluster=ClusterConfig(lock_delay_s=0, min_duration_s=60)))
    sim.set_faults(Faults(stuck_waiting_datasources=["wiki"]))
    sim.cluster.add("stuck", spec("stuck"), "wiki")
    sim.cluster.add("free", {**spec("free"), "spec": {"dataSchema": {"dataSource": "x"}}}, "x")
    await until(lambda: sim.cluster.tasks["free"].runner == "RUNNING")
    await asyncio.sleep(0.02)  # a moment in which the stuck task must not move
    assert sim.cluster.tasks["stuck"].runner == "WAITING"
    sim.set_faults(Faults(stuck_waiting_datasources=[]))
    assert sim.cluster.tasks["stuck"].runner == "RUNNING"
    sim.cluster.cancel_timers()


async def test_parallel_sub_tasks_run_in_the_parents_group_and_take_slots_of_their_own() -> None:
    c = cluster(sub_tasks=True, sub_task_splits=4, min_duration_s=0.2, max_duration_s=0.2)
    c.add("parent", spec("parent", maxNumConcurrentSubTasks=2), "wiki")
    await until(lambda: len(c.tasks) == 3)
    children = [t for t in c.tasks.values() if t.parent == "parent"]
    assert {t.type for t in children} == {"single_phase_sub_task"}
    assert {t.group_id for t in children} == {"parent"}
    assert all(t.id.startswith("single_phase_sub_task_wiki_") for t in children)
    await until(lambda: c.used == 3)  # the parent and two sub-tasks at a time
    await until(lambda: not c.tasks["parent"].active)
    assert c.tasks["parent"].status == "SUCCESS"
    assert len(c.tasks["parent"].children) == 4, "all four splits ran"
    assert c.max_live_per_interval == 1, "sub-tasks are not counted as live tasks of the job"


async def test_parents_holding_every_slot_starve_their_sub_tasks_as_in_druid() -> None:
    c = cluster(sub_tasks=True, workers=1, capacity_per_worker=2)
    for n in range(2):
        c.add(
            f"p{n}",
            spec(f"p{n}", f"2024-02-0{n + 1}/2024-02-0{n + 2}", maxNumConcurrentSubTasks=2),
            "wiki",
        )
    await until(lambda: len(c.tasks) == 6)
    await asyncio.sleep(0.02)  # a moment in which nothing may start: no slot is free
    assert c.runner_counts["RUNNING"] == 2
    assert c.runner_counts["PENDING"] == 4
    c.shutdown("p0")  # its sub-tasks are stopped with it; p1's can now run
    await until(lambda: c.runner_counts["RUNNING"] == 2 and bool(c.tasks["p1"].children))
    stopped = [c.tasks[i] for i in c.tasks["p0"].children]
    assert {t.error_msg for t in stopped} == {"Shutdown request from user"}
    c.cancel_timers()


async def test_a_restart_that_forgets_drops_running_tasks_and_one_that_fails_marks_them() -> None:
    sim = Simulator(SimConfig(cluster=ClusterConfig(lock_delay_s=0, min_duration_s=60)))
    c = sim.cluster
    c.add("lost", spec("lost"), "wiki")
    assert sim.restart("forget") == 1
    assert "lost" not in c.tasks
    assert sim.stats()["tasks"] == {}
    c.add("failed", spec("failed"), "wiki")
    await until(lambda: c.tasks["failed"].runner == "RUNNING")
    assert sim.restart("fail") == 1
    assert c.tasks["failed"].status == "FAILED"
    assert "disappeared" in (c.tasks["failed"].error_msg or "")
    c.add("kept", spec("kept", "2024-03-01/2024-03-02"), "wiki")
    assert sim.restart("keep") == 0
    assert c.tasks["kept"].active
    c.cancel_timers()


async def test_a_task_that_fails_its_readiness_check_fails_from_waiting_without_a_report() -> None:
    c = cluster(
        scripted={"wiki/2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z": ["structural:bad_spec"]}
    )
    c.add("unready", spec("unready"), "wiki")
    await until(lambda: not c.tasks["unready"].active)
    task = c.tasks["unready"]
    assert task.status == "FAILED"
    assert task.started is None
    assert task.report is None
    assert (task.error_msg or "").startswith("Encountered error[")
