"""How much the simulator takes: live tasks and requests per second on one core.

    python -m bench.sim_throughput [--tasks 10000] [--seconds 5] [--concurrency 64]

The simulator runs in a process of its own (so it has a core to itself); this process fills it
with `--tasks` long-running tasks over HTTP, then sends a mix of the calls an orchestrator
makes (single status, bulk status of 100 ids, task lists, workers) from `--concurrency`
connections for `--seconds`, and prints the rates, latency percentiles and the simulator's own
CPU use, read from `/sim/stats` (CPU seconds per wall second: 1.0 is one core saturated).
When the load generator (one Python process) cannot saturate the simulator, requests per
simulator CPU-second is the figure that says what one core of simulator can serve.
`--quick` runs a small version for smoke tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import aiohttp
import msgspec

from overlord.sim.server import SimConfig, Simulator, serve
from overlord.sim.tasks import ClusterConfig

INDEXER = "/druid/indexer/v1"
MIX = (("status", 0.70), ("bulk_status", 0.20), ("tasks_running", 0.05), ("workers", 0.05))


class Report(msgspec.Struct):
    tasks: int
    submit_s: float
    submit_rate: float
    requests: int
    seconds: float
    rate: float
    by_call: dict[str, int]
    p50_ms: float
    p99_ms: float
    sim_cpu: float  # simulator CPU seconds per wall second during the mixed load
    per_core_rate: int  # requests per simulator CPU second: its capacity on one core
    list_all_ms: float  # one GET /tasks listing every live task
    errors: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _serve_forever(port: int, workers: int) -> None:
    cluster = ClusterConfig(
        seed=1, workers=workers, capacity_per_worker=20, min_duration_s=3600, max_duration_s=3600
    )
    runner = await serve(Simulator(SimConfig(cluster=cluster)), "127.0.0.1", port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def _stats(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(f"{url}/sim/stats") as r:
        stats: dict[str, Any] = await r.json()
        return stats


async def _submit_all(session: aiohttp.ClientSession, url: str, count: int) -> list[str]:
    ids = [f"load_{n:06d}" for n in range(count)]
    queue = list(ids)

    async def worker() -> None:
        while queue:
            task_id = queue.pop()
            body = {"type": "noop", "id": task_id, "dataSource": f"ds{hash(task_id) % 50}"}
            async with session.post(f"{url}{INDEXER}/task", json=body) as r:
                if r.status != 200:
                    raise RuntimeError(f"submit {task_id}: HTTP {r.status}: {await r.text()}")

    await asyncio.gather(*(worker() for _ in range(32)))
    return ids


async def _mixed_load(
    session: aiohttp.ClientSession, url: str, ids: list[str], seconds: float, concurrency: int
) -> tuple[Counter[str], list[float], int]:
    calls: Counter[str] = Counter()
    latencies: list[float] = []
    errors = 0
    rng = random.Random(7)
    deadline = time.perf_counter() + seconds
    names = [name for name, _ in MIX]
    weights = [w for _, w in MIX]

    async def one() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            name = rng.choices(names, weights)[0]
            started = time.perf_counter()
            if name == "status":
                request = session.get(f"{url}{INDEXER}/task/{rng.choice(ids)}/status")
            elif name == "bulk_status":
                request = session.post(f"{url}{INDEXER}/taskStatus", json=rng.sample(ids, 100))
            elif name == "tasks_running":
                request = session.get(f"{url}{INDEXER}/tasks?state=running&datasource=ds7")
            else:
                request = session.get(f"{url}{INDEXER}/workers")
            async with request as r:
                await r.read()
                errors += r.status != 200
            latencies.append(time.perf_counter() - started)
            calls[name] += 1

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return calls, latencies, errors


def _run_loop(kind: str, main: Coroutine[Any, Any, None]) -> None:
    if kind == "uvloop":
        import uvloop  # a dependency of the package on every supported OS

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


async def measure(tasks: int, seconds: float, concurrency: int, loop: str = "uvloop") -> Report:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    workers = max(1, min(50, tasks // 200))  # 50 x 20 slots: most tasks stay PENDING
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sim_throughput",
        "--serve",
        str(port),
        str(workers),
        "--loop",
        loop,
    )
    connector = aiohttp.TCPConnector(limit=concurrency + 32)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(200):
                try:
                    await _stats(session, url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            started = time.perf_counter()
            ids = await _submit_all(session, url, tasks)
            submit_s = time.perf_counter() - started
            before = await _stats(session, url)
            wall = time.perf_counter()
            calls, latencies, errors = await _mixed_load(session, url, ids, seconds, concurrency)
            wall = time.perf_counter() - wall
            after = await _stats(session, url)
            started = time.perf_counter()
            async with session.get(f"{url}{INDEXER}/tasks") as r:
                rows = len(await r.json())
            list_ms = (time.perf_counter() - started) * 1000
            if rows != tasks:
                raise RuntimeError(f"GET /tasks listed {rows} tasks, expected {tasks}")
    finally:
        child.terminate()
        await child.wait()
    latencies.sort()
    total = sum(calls.values())
    cpu = after["cpu_s"] - before["cpu_s"]
    return Report(
        tasks=tasks,
        submit_s=round(submit_s, 2),
        submit_rate=round(tasks / submit_s),
        requests=total,
        seconds=round(wall, 2),
        rate=round(total / wall),
        by_call=dict(calls),
        p50_ms=round(latencies[len(latencies) // 2] * 1000, 2),
        p99_ms=round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        sim_cpu=round(cpu / wall, 2),
        per_core_rate=round(total / cpu) if cpu > 0 else 0,
        list_all_ms=round(list_ms, 1),
        errors=errors,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks for 1 s")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the simulator's loop"
    )
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _run_loop(args.loop, _serve_forever(*args.serve))
        return 0
    if args.quick:
        args.tasks, args.seconds = 1_000, 1.0
    report = asyncio.run(measure(args.tasks, args.seconds, args.concurrency, args.loop))
    print(msgspec.json.format(msgspec.json.encode(report)).decode())
    print(
        f"{report.tasks} live tasks submitted at {report.submit_rate}/s; mixed load "
        f"{report.rate} requests/s (p50 {report.p50_ms} ms, p99 {report.p99_ms} ms) using "
        f"{report.sim_cpu:.2f} core(s) of simulator CPU, i.e. {report.per_core_rate} requests "
        f"per simulator CPU-second; listing all tasks took "
        f"{report.list_all_ms} ms; {report.errors} errors; {os.cpu_count()} CPUs on this host"
    )
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
