"""The Overlord simulator in its own process, for the lifecycle benchmark.

    python -m bench.sim_server --workload W.json [--host H] [--port P]

Prints `listening <url>` on stdout once it accepts connections, and serves until SIGTERM.

Beyond `druid-orch sim`, it adds one read-only route, `GET /sim/bench/tasks`: every task's
created, started and finished wall-clock times and status, straight from the simulated
cluster. The record-delay figure needs the instant a task's status turned terminal, and the
Overlord API does not give it: a status's `duration` runs from the start on a worker (not from
creation), and `createdTime + duration` leaves out the time spent waiting for a lock and a
slot. The route's name starts with `sim_`, so `/sim/stats` does not count it as an Overlord
request.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import msgspec
import uvloop
from aiohttp import web

from bench.workload import Workload
from overlord.sim.server import Simulator
from service import logging_setup


def add_bench_routes(sim: Simulator, app: web.Application) -> None:
    """Register `/sim/bench/tasks` on `app` (an app built by `sim.app()`)."""

    async def tasks(_request: web.Request) -> web.Response:
        rows = {
            t.id: (t.created, t.started, t.finished, t.status) for t in sim.cluster.tasks.values()
        }
        return web.Response(body=msgspec.json.encode(rows), content_type="application/json")

    app.router.add_get("/sim/bench/tasks", tasks, name="sim_bench_tasks")


async def _serve(sim: Simulator, host: str, port: int) -> int:
    # `overlord.sim.server.serve` builds its own app; this one carries the extra route.
    app = sim.app()
    add_bench_routes(sim, app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # A deep accept backlog: the baseline opens a fresh connection per request, from
    # thousands of threads at once, and a refused SYN would read as an Overlord failure.
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0]
    print(f"listening http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True, help="Workload JSON written by the driver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    logging_setup.configure("warning")
    sim = Simulator(Workload.load(args.workload).sim_config())
    return uvloop.run(_serve(sim, args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
