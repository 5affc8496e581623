"""The orchestrator as its own process, for the crash test and the crash soak.

    python -m bench.crash_worker --db PATH --overlord URL --jobs N [--reconcile-s S]

Submits N daily demo jobs (idempotently: rerunning after a crash resumes the same jobs) and
runs until every job is terminal, then prints DONE. It prints `ACK <job>` after each job's
acceptance is recorded, so a test can kill it at any moment and know what was acknowledged.

It can kill itself (SIGKILL) at one of the two moments a crash is most dangerous:
`CRASH_AFTER_INTENTS=N` right after its Nth submit intent is on disk (before that POST),
`CRASH_AFTER_SUBMITS=N` right after the Overlord accepted its Nth POST (before the log says so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import msgspec

from actors.job.stream import Transition
from actors.orchestrator import Orchestrator
from actors.settings import OrchestratorConfig
from actors.supervision.slots import SlotPolicy
from eventlog.events import SubmitIntended
from overlord import ClientSettings, HttpOverlord, RequestRetryPolicy
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


class _DyingAfterSubmits(HttpOverlord):
    """The orchestrator's client, but the process dies right after the Overlord accepted its
    `posts_left`-th POST: that task exists, and the log holds only its intent."""

    posts_left = 0  # 0: never

    async def submit(self, task: Mapping[str, Any] | msgspec.Raw) -> str:
        task_id = await super().submit(task)
        self.posts_left -= 1
        if self.posts_left == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return task_id


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
    _DyingAfterSubmits.posts_left = int(os.environ.get("CRASH_AFTER_SUBMITS", "0"))
    # As the orchestrator builds its own client from a URL (`actors.assembly`).
    client = _DyingAfterSubmits.from_settings(
        overlord, ClientSettings(), retry=RequestRetryPolicy(attempts=config.client_attempts)
    )
    try:
        async with Orchestrator.open(db, client, config=config) as orch:
            _crash_after_intents(orch, int(os.environ.get("CRASH_AFTER_INTENTS", "0")))
            print("READY", flush=True)
            for job in compiled:
                await orch.submit(job)
                print(f"ACK {job.job_id}", flush=True)
            for job in compiled:
                await orch.wait(job.job_id, timeout=300)
    finally:
        await client.close()
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
