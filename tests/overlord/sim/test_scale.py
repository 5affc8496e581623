"""The simulator at the scale the orchestrator is built for: 10,000 live tasks, long lock
queues, and thousands of tasks churning through the slots. These check correctness at scale
and print what it cost; `python -m bench.sim_throughput` measures request rates."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from overlord.sim.cluster import ClusterConfig, SimCluster
from overlord.sim.server import SimConfig, Simulator
from tests.contract.support import until


def daily(n: int) -> dict[str, Any]:
    day = 1_700_000_000 + n * 86_400
    interval = f"{_iso(day)}/{_iso(day + 86_400)}"
    return {
        "type": "index_parallel",
        "spec": {
            "dataSchema": {"dataSource": "wiki", "granularitySpec": {"intervals": [interval]}}
        },
    }


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


async def test_ten_thousand_live_tasks_are_admitted_listed_and_polled_correctly() -> None:
    config = ClusterConfig(
        workers=50, capacity_per_worker=20, min_duration_s=3600, max_duration_s=3600, lock_delay_s=0
    )
    sim = Simulator(SimConfig(cluster=config))
    async with TestClient(TestServer(sim.app())) as client:
        started = time.perf_counter()
        for n in range(10_000):
            sim.cluster.add(f"t{n:05d}", daily(n), "wiki")
        await until(lambda: sim.cluster.runner_counts["RUNNING"] == 1000)
        admitted_s = time.perf_counter() - started
        assert sim.stats()["runner"] == {"RUNNING": 1000, "PENDING": 9000}
        started = time.perf_counter()
        rows = await (await client.get("/druid/indexer/v1/tasks")).json()
        listing_s = time.perf_counter() - started
        assert len(rows) == 10_000
        ids = [f"t{n:05d}" for n in range(0, 10_000, 10)]
        bulk = await (await client.post("/druid/indexer/v1/taskStatus", json=ids)).json()
        assert len(bulk) == 1000
        started = time.perf_counter()
        for n in range(500):
            sim.cluster.shutdown(f"t{n:05d}")
        shutdown_s = time.perf_counter() - started
        running = sorted(t.id for t in sim.cluster.active.values() if t.runner == "RUNNING")
        assert running == [f"t{n:05d}" for n in range(500, 1500)], "freed slots go in FIFO order"
        sim.cluster.cancel_timers()
    print(
        f"\n10k tasks locked and queued in {admitted_s * 1000:.0f} ms; a 10k-row /tasks in "
        f"{listing_s * 1000:.0f} ms; 500 shutdowns (each starting the next task) in "
        f"{shutdown_s * 1000:.0f} ms"
    )


async def test_a_long_queue_on_one_interval_admits_one_task_per_release() -> None:
    cluster = SimCluster(ClusterConfig(min_duration_s=3600, max_duration_s=3600, lock_delay_s=0))
    for n in range(3000):
        cluster.add(f"q{n}", daily(0), "wiki")
    await until(lambda: cluster.runner_counts["RUNNING"] == 1)
    started = time.perf_counter()
    for n in range(2999):
        cluster.shutdown(f"q{n}")
        assert (
            cluster.tasks[f"q{n + 1}"].runner == "PENDING"
            or cluster.tasks[f"q{n + 1}"].runner == "RUNNING"
        )
    drained_s = time.perf_counter() - started
    assert cluster.runner_counts["WAITING"] == 0
    assert cluster.max_live_per_interval == 3000
    cluster.cancel_timers()
    print(f"\n2,999 releases of one contended interval in {drained_s * 1000:.0f} ms")


async def test_thousands_of_short_tasks_churn_through_the_slots_to_success() -> None:
    config = ClusterConfig(
        workers=20, capacity_per_worker=25, min_duration_s=0.01, max_duration_s=0.05, lock_delay_s=0
    )
    cluster = SimCluster(config)
    started = time.perf_counter()
    for n in range(5000):
        cluster.add(f"c{n}", daily(n), "wiki")
    await until(lambda: not cluster.active, timeout_s=30)
    churn_s = time.perf_counter() - started
    assert cluster.status_counts["SUCCESS"] == 5000
    assert cluster.used == 0
    assert cluster.max_successes_per_interval == 1
    print(f"\n5,000 tasks through 500 slots in {churn_s:.2f} s")


def test_the_throughput_measurement_runs_clean_in_quick_mode() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.sim_throughput", "--quick", "--concurrency", "16"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = msgspec.json.decode(result.stdout.split("\n}\n")[0] + "}")
    assert report["errors"] == 0
    assert report["tasks"] == 1000
    assert report["requests"] > 0
