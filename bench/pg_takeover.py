"""Takeover time on PostgreSQL with a log of a few thousand finished jobs (issue 23, item 4).

Two replicas on one database; the leader drives `--jobs` jobs to success against the
simulator (fast tasks), so the log holds thousands of finished jobs' streams, then
`--live` more jobs are submitted and left running (long tasks) so boot has live streams to
replay. The leader is then SIGKILLed `--kills` times; each time the standby's stdout says
when it took the lease and when it was ready, so the takeover splits into the lease wait
(kill -> "took the lease") and the boot (lease -> "ready (leader"): replay of the live
streams, reconcile with the Overlord. The killed replica is started again as the standby,
alternately hot (`eventlog.warm_standby`, the default: it folds the live jobs as the
leader records them, so its boot replays a short tail) and cold (it folds every live
stream at takeover), so the two boots are compared within one run.

    python -m bench.pg_takeover [--jobs 3000] [--live 300] [--kills 5] [--lease 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from bench.pg_failover import submit
from eventlog.postgres import PostgresEventLog
from overlord.sim.server import SimConfig, Simulator
from overlord.sim.tasks import ClusterConfig
from tests import pg_support
from tests.ha import test_failover as ha
from tests.service.processes import DaemonProcess, running


async def succeeded(db_url: str) -> int:
    async with PostgresEventLog(db_url, readers=1) as log:
        return (await log.phase_counts()).get("succeeded", 0)


async def measure(jobs: int, live: int, kills: int, lease_s: float) -> dict[str, Any]:
    ha.LEASE_S = lease_s
    sim = Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=5, workers=32, capacity_per_worker=16, min_duration_s=0.05, max_duration_s=0.3
            )
        )
    )
    lease_waits: list[float] = []
    boots: dict[str, list[float]] = {"warm": [], "cold": []}
    totals: list[float] = []
    async with pg_support.scratch_database() as db_url, running(sim) as overlord:
        with tempfile.TemporaryDirectory() as tmp:
            replicas = await ha.start_replicas(Path(tmp), [overlord] * 2, db_url)
            try:
                leader = await ha.leader_of(replicas, 30)
                started = time.monotonic()
                await submit(leader.url, jobs)
                for _ in range(1800):  # polled: the jobs finish in another process
                    if await succeeded(db_url) >= jobs:
                        break
                    await asyncio.sleep(1)
                print(f"{jobs} jobs finished in {time.monotonic() - started:.0f} s", flush=True)
                # Live jobs: tasks that outlast the kills, so each boot replays them.
                sim.cluster.config = msgspec.structs.replace(
                    sim.cluster.config, min_duration_s=3600.0, max_duration_s=7200.0
                )
                await submit_live(leader.url, live)
                for _ in range(60):
                    if sim.stats()["submissions"] >= jobs + live:
                        break
                    await asyncio.sleep(0.5)
                stats = sim.stats()
                print(f"live: {stats['live_tasks']} tasks, {stats['submissions']} submitted")
                for _ in range(kills):
                    leader = await ha.leader_of(replicas, 60)
                    standby = next(r for r in replicas if r is not leader)
                    mode = (
                        "cold" if "warm_standby = false" in standby.config.read_text() else "warm"
                    )
                    await asyncio.sleep(0.5)
                    leader.signal(signal.SIGKILL)
                    t0 = time.monotonic()
                    await standby.read_until("took the lease", lease_s + 60)
                    t1 = time.monotonic()
                    await standby.read_until("ready (leader", 120)
                    t2 = time.monotonic()
                    await ha.leader_of([standby], 30)
                    t3 = time.monotonic()
                    lease_waits.append(t1 - t0)
                    boots[mode].append(t2 - t1)
                    totals.append(t3 - t0)
                    print(
                        f"kill {len(totals)}: lease {t1 - t0:.2f} s + boot {t2 - t1:.2f} s "
                        f"({mode} standby); ready (readyz) after {t3 - t0:.2f} s",
                        flush=True,
                    )
                    assert leader.proc is not None
                    await leader.proc.wait()
                    # The next standby is cold after a warm one and warm after a cold one.
                    _set_warm(leader.config, warm=mode == "cold")
                    again = await DaemonProcess(leader.config).start(until="listening")
                    # A hot standby is ready to take over once it has folded the live jobs.
                    await again.read_until(
                        "following the log" if mode == "cold" else "standby:", 60
                    )
                    replicas[replicas.index(leader)] = again
            finally:
                await ha.stop_all(replicas)
        async with PostgresEventLog(db_url) as log:
            events = (await log.verify()).events
    stats = sim.stats()
    result = {
        "jobs": jobs,
        "live": live,
        "kills": kills,
        "lease_s": lease_s,
        "events": events,
        "lease_wait_s": _summary(lease_waits),
        "boot_s": {mode: _summary(b) for mode, b in boots.items() if b},
        "takeover_s": _summary(totals),
        "duplicate_submissions": stats["duplicate_submissions"],
    }
    booted = "; ".join(
        f"{mode} boot median {statistics.median(b):.2f} s (max {max(b):.2f}, {len(b)} kills)"
        for mode, b in boots.items()
        if b
    )
    print(
        f"{jobs} finished + {live} live jobs ({events} events), lease {lease_s} s, {kills} kills: "
        f"takeover median {statistics.median(totals):.2f} s (max {max(totals):.2f}); {booted}; "
        f"duplicate submissions {stats['duplicate_submissions']}"
    )
    return result


def _set_warm(config: Path, *, warm: bool) -> None:
    text = config.read_text().replace("warm_standby = false\n", "")
    if not warm:
        text = text.replace("[eventlog]\n", "[eventlog]\nwarm_standby = false\n", 1)
    config.write_text(text)


async def submit_live(url: str, count: int) -> None:
    from datetime import date, timedelta

    import aiohttp

    from tests.service.test_daemon import TEMPLATE

    days = [date(2045, 1, 1) + timedelta(days=i) for i in range(count)]  # after the finished
    intervals = [f"{d.isoformat()}/{(d + timedelta(days=1)).isoformat()}" for d in days]
    async with aiohttp.ClientSession() as http:
        for chunk in range(0, count, 100):
            body = {"template": TEMPLATE, "intervals": intervals[chunk : chunk + 100]}
            async with http.post(url + "/v1/jobs", json=body, headers=ha.AUTH) as response:
                assert response.status == 202, await response.text()


def _summary(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "max": max(values), "all": values}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=3000)
    ap.add_argument("--live", type=int, default=300)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--lease", type=float, default=2.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    result = asyncio.run(measure(args.jobs, args.live, args.kills, args.lease))
    if args.json:
        Path(args.json).write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    return 0 if result["duplicate_submissions"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
