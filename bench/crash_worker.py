"""The orchestrator as its own process, for the crash test and the crash soak.

    python -m bench.crash_worker --db PATH --overlord URL --jobs N [--reconcile-s S]

Submits N daily demo jobs (idempotently: rerunning after a crash resumes the same jobs) and
runs until every job is terminal, then prints DONE. It prints `ACK <job>` after each job's
acceptance is recorded, so a test can kill it at any moment and know what was acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from actors.job.stream import Transition
from actors.orchestrator import Orchestrator
from actors.settings import OrchestratorConfig
from actors.supervision.slots import SlotPolicy
from eventlog.events import SubmitIntended
from service.demo import demo_config, demo_jobs


def _crash_after_intents(orch: Orchestrator, count: int) -> None:
    """SIGKILL this process right after the `count`-th submit intent is on disk."""
    if count <= 0:
        return
    seen = 0

    def hook(recorded: Transition) -> None:
        nonlocal seen
        seen += sum(isinstance(e, SubmitIntended) for e in recorded.events)
        if seen >= count:
            os.kill(os.getpid(), signal.SIGKILL)

    orch.listen(hook)


async def main(db: str, overlord: str, jobs: int, reconcile_s: float | None) -> int:
    compiled = demo_jobs(jobs)
    base = demo_config()
    config = OrchestratorConfig(
        poller=base.poller,
        job=base.job,
        reconcile_interval_s=reconcile_s,
        orphans="report",
        # The soak crashes the orchestrator amid a burst of submissions: keep the burst.
        slots=SlotPolicy(enabled=False),
    )
    async with Orchestrator.open(db, overlord, config=config) as orch:
        _crash_after_intents(orch, int(os.environ.get("CRASH_AFTER_INTENTS", "0")))
        print("READY", flush=True)
        for job in compiled:
            await orch.submit(job)
            print(f"ACK {job.job_id}", flush=True)
        for job in compiled:
            await orch.wait(job.job_id, timeout=300)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--overlord", required=True)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--reconcile-s", type=float, default=None)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.db, args.overlord, args.jobs, args.reconcile_s)))
