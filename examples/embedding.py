"""Embedding druid-orchestrator in your own asyncio program.

Runs as it is, with no Druid cluster: it starts the built-in Overlord simulator on a free
loopback port and points the orchestrator at it. With a real cluster, pass its Overlord URL
(and `auth=BasicAuth(user, password)`) instead.

    python examples/embedding.py [--db orch.db]

Run it twice with the same `--db`: the second run finds the same jobs already finished
(job ids derive from the spec, so submitting again is a no-op).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path

from actors import Orchestrator, OrchestratorConfig
from actors.poller import PollerConfig
from overlord.sim.server import SimConfig, Simulator, serve
from service import logging_setup
from specs.compiler import builtin_template, compile_range
from specs.intervals import Interval


async def main(db: str) -> int:
    # 1. An Overlord to talk to: here the simulator; in production, "https://overlord:8281".
    runner = await serve(Simulator(SimConfig()), "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    overlord = f"http://{host}:{port}"

    # 2. Jobs: a pipeline template compiled for a range, one job per day.
    template = builtin_template("wikipedia")
    jobs = compile_range(template, Interval.parse("2024-01-01/2024-01-04"))

    # Fast polling suits the simulator's sub-second tasks; the defaults suit a real cluster.
    config = OrchestratorConfig(poller=PollerConfig(first_delay_s=0.1, ceiling_s=0.5))
    try:
        async with Orchestrator.open(db, overlord, config=config) as orch:
            # 3. Submit: returns at once, and is idempotent.
            views = [await orch.submit(job) for job in jobs]
            print(f"submitted {len(views)} jobs to {overlord}")

            # 4. Watch one job's transitions live, and wait for all of them.
            async for update in orch.watch(views[0].job_id):
                print(f"  {update.job.job_id[:40]}…  {update.job.phase:<10} {update.events}")
            finals = [await orch.wait(v.job_id, timeout=60) for v in views]

            # 5. The event log remembers everything, e.g. one job's history.
            history = await orch.history(finals[0].job_id)
            print(f"first job: {len(history)} events recorded")
    finally:
        await runner.cleanup()
    for view in finals:
        print(f"{view.interval}  {view.phase:<10} attempt {view.attempt}  task {view.task_id}")
    return 0 if all(v.phase == "succeeded" for v in finals) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="event log file (default: a temporary one)")
    args = parser.parse_args()
    logging_setup.configure("warning")  # structlog: JSON lines, or readable on a terminal
    with contextlib.ExitStack() as stack:
        db = args.db or str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "orch.db")
        raise SystemExit(asyncio.run(main(db)))
