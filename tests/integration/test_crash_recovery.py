"""SIGKILL the orchestrator at random moments, many times; it must finish right anyway.

The orchestrator runs as its own process (`tests/integration/crash_worker.py`) on a
file-backed event log against the simulator served from this test process. It is killed
with SIGKILL at random moments — some right after a submit intent was recorded — restarted
each time, and finally allowed to finish. Then, from the simulator's own record and from the
log: every job reached its expected state, no task was submitted twice, there was never more
than one live task per interval, and the log verifies.

A second test does the same while the Overlord restarts (forgetting its running tasks) and
fails over between two simulators that share one task store (the metadata database).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

from actors.demo import demo_jobs, demo_simulator, expected_phase
from actors.task import stream_id
from actors.task_fsm import fold
from eventlog.store import EventLog
from overlord.simulator import Simulator, serve

JOBS = 120
KILLS = 12
REPO = Path(__file__).resolve().parents[2]


async def _start_worker(
    db: Path, url: str, *, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.crash_worker",
        "--db",
        str(db),
        "--overlord",
        url,
        "--jobs",
        str(JOBS),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


async def _until_ready(worker: asyncio.subprocess.Process) -> None:
    """Wait until the worker has recovered and started work (or died trying)."""
    assert worker.stdout is not None
    while True:
        line = await worker.stdout.readline()
        if not line or line.startswith(b"READY"):
            return


async def _kill_loop(db: Path, url: str, rng: random.Random, between: object = None) -> None:
    for round_ in range(KILLS):
        env = {}
        if round_ % 3 == 0:  # die right after the Nth submit intent is recorded
            env["CRASH_AFTER_INTENTS"] = str(rng.randint(1, 40))
        worker = await _start_worker(db, url, env=env)
        try:
            await asyncio.wait_for(_until_ready(worker), timeout=60)
            # Kill it at a random moment of its work; reading on keeps its pipe drained.
            await asyncio.wait_for(worker.communicate(), timeout=rng.uniform(0.05, 1.5))
        except TimeoutError:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        if callable(between):
            between(round_)
    worker = await _start_worker(db, url)
    out, _ = await asyncio.wait_for(worker.communicate(), timeout=180)
    assert worker.returncode == 0, out.decode()[-2000:]
    assert b"DONE" in out


async def _check_log(db: Path) -> None:
    jobs = demo_jobs(JOBS)
    async with EventLog(db) as log:
        report = await log.verify()
        assert report.ok, report
        for index, job in enumerate(jobs):
            events = [r.event for r in await log.read_stream(stream_id(job.job_id))]
            state = fold(events)  # raises InvalidTransitionError on an illegal history
            assert state.phase == expected_phase(index, JOBS), (job.job_id, state)


async def test_sigkill_at_random_moments_never_loses_or_duplicates_work(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    sim = demo_simulator(demo_jobs(JOBS), seed=11)
    sim.cluster.config.transient_rate = 0.1
    runner = await serve(sim, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    try:
        await _kill_loop(db, f"http://{host}:{port}", random.Random(11))
        stats = sim.stats()
    finally:
        await runner.cleanup()
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1
    await _check_log(db)


async def test_sigkill_while_the_overlord_restarts_and_fails_over(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    first = demo_simulator(demo_jobs(JOBS), seed=12)
    # Each Overlord restart costs the tasks it forgets an attempt; with random transient
    # failures on top, a job could use up its five attempts, which would be right but not
    # what this test checks.
    first.cluster.config.transient_rate = 0.0
    second = Simulator(first.config)
    second.cluster = first.cluster  # one task store behind two Overlords
    runner_a = await serve(first, "127.0.0.1", 0)
    runner_b = await serve(second, "127.0.0.1", 0)
    url_a = "http://{}:{}".format(*runner_a.addresses[0][:2])
    url_b = "http://{}:{}".format(*runner_b.addresses[0][:2])
    second.leader_url = url_a  # b starts as a standby: it redirects to a
    # Slower tasks, so that Overlord restarts find running tasks to forget.
    first.cluster.config.min_duration_s, first.cluster.config.max_duration_s = 1.0, 3.0
    forgotten = 0

    def chaos(round_: int) -> None:
        nonlocal forgotten
        if round_ % 4 == 1:
            forgotten += first.cluster.forget_active()  # an Overlord restart loses its tasks
        if round_ % 4 == 3:  # failover: the standby becomes the leader and vice versa
            if second.leader_url is None:
                second.leader_url, first.leader_url = url_a, None
            else:
                second.leader_url, first.leader_url = None, url_b

    try:
        await _kill_loop(db, url_b, random.Random(12), between=chaos)
        duplicates = first.duplicate_submissions + second.duplicate_submissions
        max_live = first.cluster.max_live_per_interval
    finally:
        await runner_b.cleanup()
        await runner_a.cleanup()
    assert forgotten > 0, "the Overlord restarts should have forgotten some running tasks"
    assert duplicates == 0
    assert max_live == 1
    await _check_log(db)
