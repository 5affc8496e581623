"""An Overlord simulator for the read-model benchmarks: idle (queries), or quick tasks in a
process of its own (memory), so that its own memory stays out of the orchestrator's RSS."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator, Iterator
from multiprocessing.connection import Connection

from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator, serve


def _fast(seed: int = 1) -> Simulator:
    cluster = ClusterConfig(
        seed=seed, workers=16, capacity_per_worker=16, min_duration_s=0.01, max_duration_s=0.05
    )
    return Simulator(SimConfig(cluster=cluster))


@contextlib.asynccontextmanager
async def idle_simulator() -> AsyncIterator[str]:
    runner = await serve(_fast(), "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def _serve_forever(port_out: Connection) -> None:
    async def main() -> None:
        runner = await serve(_fast(), "127.0.0.1", 0)
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def simulator_process() -> Iterator[str]:
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_forever, args=(theirs,), daemon=True
    )
    process.start()
    try:
        yield f"http://127.0.0.1:{ours.recv()}"
    finally:
        process.terminate()
        process.join()
