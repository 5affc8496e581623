"""Failover soak: three replicas on PostgreSQL, the leader SIGKILLed over and over while
300 jobs run against the simulator (issue 23).

Each kill: find the leader, SIGKILL it, time until another replica answers `/readyz` as
leader (kill -> new leader ready: lease expiry + boot replay + reconcile), start the killed
one again as a standby. After the last kill every job must end as it should, the simulator
must show no duplicate submission and at most one live task per interval, and the log
must verify. Prints the failover times (median, max).

    python -m bench.pg_failover [--jobs 300] [--kills 20] [--lease 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from eventlog.postgres import PostgresEventLog
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests import pg_support
from tests.ha import test_failover as ha
from tests.service.processes import DaemonProcess, running
from tests.service.test_daemon import TEMPLATE


async def submit(url: str, count: int) -> list[str]:
    start = date(2023, 1, 1)
    days = [start + timedelta(days=i) for i in range(count)]
    intervals = [f"{d.isoformat()}/{(d + timedelta(days=1)).isoformat()}" for d in days]
    ids: list[str] = []
    async with aiohttp.ClientSession() as http:
        for chunk in range(0, count, 100):
            body = {"template": TEMPLATE, "intervals": intervals[chunk : chunk + 100]}
            async with http.post(url + "/v1/jobs", json=body, headers=ha.AUTH) as response:
                assert response.status == 202, await response.text()
                ids += [j["job_id"] for j in (await response.json())["jobs"]]
    return ids


async def soak(jobs: int, kills: int, lease_s: float) -> dict[str, Any]:
    ha.LEASE_S = lease_s
    sim = Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=3, workers=16, capacity_per_worker=8, min_duration_s=2, max_duration_s=8
            )
        )
    )
    times: list[float] = []
    async with pg_support.scratch_database() as db_url, running(sim) as overlord:
        with tempfile.TemporaryDirectory() as tmp:
            replicas = await ha.start_replicas(Path(tmp), [overlord] * 3, db_url)
            try:
                leader = await ha.leader_of(replicas, 30)
                ids = await submit(leader.url, jobs)
                for _ in range(kills):
                    leader = await ha.leader_of(replicas, 60)
                    await asyncio.sleep(0.5)
                    leader.signal(signal.SIGKILL)
                    t0 = time.monotonic()
                    assert leader.proc is not None
                    await leader.proc.wait()
                    others = [r for r in replicas if r is not leader]
                    successor = await ha.leader_of(others, lease_s + 60)
                    times.append(time.monotonic() - t0)
                    print(f"kill {len(times)}: {times[-1]:.2f} s to a new leader", flush=True)
                    again = await DaemonProcess(leader.config).start(until="listening")
                    replicas[replicas.index(leader)] = again
                done = await ha.all_terminal(successor.url, len(ids), 600)
                phases = sorted({j["phase"] for j in done})
            finally:
                await ha.stop_all(replicas)
        async with PostgresEventLog(db_url) as log:
            report = await log.verify()
    stats = sim.stats()
    result = {
        "jobs": jobs,
        "kills": kills,
        "lease_s": lease_s,
        "failover_s": {"median": statistics.median(times), "max": max(times), "all": times},
        "phases": phases,
        "duplicate_submissions": stats["duplicate_submissions"],
        "max_live_tasks_per_interval": stats["max_live_tasks_per_interval"],
        "chain_ok": report.ok,
        "events": report.events,
    }
    print(
        f"{kills} kills, {jobs} jobs, lease {lease_s} s: failover median "
        f"{statistics.median(times):.2f} s, max {max(times):.2f} s; phases {phases}; "
        f"duplicate submissions {stats['duplicate_submissions']}; max live tasks per "
        f"interval {stats['max_live_tasks_per_interval']}; chain ok {report.ok} "
        f"({report.events} events)"
    )
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--lease", type=float, default=2.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    result = asyncio.run(soak(args.jobs, args.kills, args.lease))
    if args.json:
        Path(args.json).write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    ok = (
        result["phases"] == ["succeeded"]
        and result["duplicate_submissions"] == 0
        and result["max_live_tasks_per_interval"] == 1
        and result["chain_ok"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
