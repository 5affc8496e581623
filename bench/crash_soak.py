"""Crash soak: SIGKILL the orchestrator over and over while it works; it must end right.

    python -m bench.crash_soak [--jobs 600] [--kills 60] [--seed 1] [--json OUT] [--record]

The orchestrator runs as its own process (`bench/crash_worker.py`) on a file-backed event log
against the Overlord simulator served from this process. It is killed with SIGKILL at random
moments, restarted each time, and finally allowed to finish. In two rounds of three it kills
itself at a chosen moment instead, if it gets there first: right after its Nth submit intent
is on disk (before that POST), or right after the Overlord accepted its Nth POST (before the
log records it: a blind resubmission would duplicate that task). Two runs: one against a
steady Overlord with random transient failures, one while the Overlord restarts (forgetting
its running tasks) and fails over between two simulators that share one task store (each
restart answers 503 for a second: no leader, then the new leader warming up). Each run then
checks, from the simulator and the log: every job in its expected state, no duplicate
submission, never two live tasks for one interval, no reconciliation that decided to
resubmit a task the Overlord held, the hash chain verifies and every job stream replays
through the FSM.

`tests/bench/test_crash_soak_smoke.py` runs the same code small (120 jobs, 9 kills);
`--record` writes the figures into the crash-soak block of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import msgspec

from actors.job.evolve import fold
from actors.stream_names import RECONCILE_STREAM, job_stream
from bench import results_md
from eventlog.events import ReconcileDecided
from eventlog.sqlite.store import SQLiteEventLog
from overlord.sim.server import Simulator, serve
from overlord.sim.tasks import SimTask
from service.demo import demo_jobs, demo_simulator, expected_phase

REPO = Path(__file__).resolve().parents[1]
# Overlord restarts per run. Each forgets every running and queued task; a forgotten task is
# spared up to `max_uncounted_failures` (10) times per job, then counts against its five
# attempts, so a job forgotten 15 times would rightly die: stay below that.
RESTARTS = 12
# Each restart of the leader: no leader known for a while, then its task queue warming up
# (REFERENCE §1.2). It starts once a worker is up, so that worker's polls and submissions meet
# it however slowly a loaded machine boots the worker, and a worker started during it
# reconciles against an Overlord that refuses.
RESTART_DOWN_S = 0.3
RESTART_WARMUP_S = 0.7
# The rounds whose worker dies by itself at a chosen moment (`bench.crash_worker`), if it gets
# there before the random kill: round % 3 picks the moment, and its Nth intent or POST is
# drawn from this range. A late POST of a burst is of a task still queued when the next
# worker boots: a wrong "resubmit" of it is then in the log to be found.
MOMENTS = {0: ("CRASH_AFTER_INTENTS", (1, 40)), 1: ("CRASH_AFTER_SUBMITS", (20, 40))}
FIRST_POST_KILL = 1  # the first round whose moment is CRASH_AFTER_SUBMITS


class Kills(msgspec.Struct, kw_only=True):
    """How the workers of one run died (the last one, which finishes, is not counted)."""

    random: int = 0
    after_intent: int = 0
    after_submit: int = 0


# Before each worker starts: when, and the ids of the tasks the Overlord holds. No one changes
# them until that worker has reconciled (the last worker is dead, the chaos waits for READY),
# so its boot reconciliation must know each of them.
Holdings = list[tuple[float, frozenset[str]]]


async def _start_worker(
    db: Path, url: str, jobs: int, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.crash_worker",
        "--db", str(db), "--overlord", url, "--jobs", str(jobs),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


async def _until_ready(worker: asyncio.subprocess.Process) -> None:
    """Wait until the worker has recovered and started work (or died trying)."""
    assert worker.stdout is not None
    while True:
        line = await worker.stdout.readline()
        if not line or line.startswith(b"READY"):
            return


async def kill_loop(
    db: Path,
    url: str,
    *,
    jobs: int,
    kills: int,
    rng: random.Random,
    tasks: Mapping[str, SimTask],
    holdings: Holdings,
    during: Callable[[int], None] | None = None,
    finish_timeout_s: float = 180.0,
) -> Kills:
    """Start, kill and restart the orchestrator `kills` times, then let it finish.

    `tasks`: the simulator's task store, noted in `holdings` before each worker starts.
    `during(round)` runs once each round's worker has recovered and started work.

    Raises:
        AssertionError: the last run did not finish cleanly.
    """
    counts = Kills()
    for round_ in range(kills):
        moment, (low, high) = MOMENTS.get(round_ % 3, ("", (0, 0)))
        env = {moment: str(rng.randint(low, high))} if moment else {}
        holdings.append((time.time(), frozenset(tasks)))
        worker = await _start_worker(db, url, jobs, env)
        try:
            await asyncio.wait_for(_until_ready(worker), timeout=60)
            if during is not None:
                during(round_)
            # Kill it at a random moment of its work; reading on keeps its pipe drained. The
            # first worker told to die after a POST is left to get there: at most 40 POSTs
            # came before it (the first worker dies by its 40th intent), so it has dozens
            # to make, and every run then holds at least one such death.
            patience = 60.0 if round_ == FIRST_POST_KILL else rng.uniform(0.05, 1.5)
            await asyncio.wait_for(worker.communicate(), timeout=patience)
        except TimeoutError:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
            counts.random += 1
            continue
        if worker.returncode != -signal.SIGKILL:
            continue  # it finished early (or failed: the last run tells)
        if moment == "CRASH_AFTER_INTENTS":
            counts.after_intent += 1
        else:
            counts.after_submit += 1
    holdings.append((time.time(), frozenset(tasks)))
    worker = await _start_worker(db, url, jobs)
    try:
        out, _ = await asyncio.wait_for(worker.communicate(), timeout=finish_timeout_s)
    except TimeoutError:
        # A worker left running would outlive the run and keep the machine busy.
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        raise AssertionError(f"the last worker did not end in {finish_timeout_s:.0f} s") from None
    assert worker.returncode == 0, out.decode()[-2000:]
    assert b"DONE" in out
    return counts


async def log_problems(db: Path, jobs: int, holdings: Holdings) -> list[str]:
    """Everything wrong with the log after a soak (empty when all is well).

    `holdings`: what the Overlord held as each worker started (`kill_loop`).
    """
    problems: list[str] = []
    async with SQLiteEventLog(db) as log:
        report = await log.verify()
        if not report.ok:
            problems.append(f"hash chain: {report.broken}")
        # The actor asks the Overlord again before its POST, so a wrong "resubmit" costs no
        # duplicate and only this catches it. Held against what the Overlord held as the
        # deciding worker started: a task forgotten by an earlier restart may be resubmitted.
        for record in await log.read_stream(RECONCILE_STREAM):
            event = record.event
            if not isinstance(event, ReconcileDecided) or event.decision != "resubmit":
                continue
            started = [(at, held) for at, held in holdings if at < event.at]
            if started and event.task_id in started[-1][1]:
                problems.append(
                    f"{event.task_id}: the boot reconciliation decided to resubmit it, but the "
                    f"Overlord held it when that worker started"
                )
        for index, job in enumerate(demo_jobs(jobs)):
            events = [r.event for r in await log.read_stream(job_stream(job.job_id))]
            try:
                state = fold(events)
            except Exception as exc:  # an illegal history is a finding, not a crash
                problems.append(f"{job.job_id}: does not replay: {exc}")
                continue
            if state.phase != expected_phase(index, jobs):
                problems.append(f"{job.job_id}: ended {state.phase} after {state.attempt} tries")
    return problems


class SoakResult(msgspec.Struct, kw_only=True):
    scenario: str
    jobs: int
    kills: int
    wall_s: float
    died: Kills = msgspec.field(default_factory=Kills)
    duplicate_submissions: int
    max_live_tasks_per_interval: int
    forgotten_by_restarts: int = 0
    # Overlord requests answered 503 because the leader was restarting (no leader, warm-up).
    refused_while_restarting: int = 0
    problems: list[str]


async def steady(db: Path, jobs: int, kills: int, seed: int) -> SoakResult:
    sim = demo_simulator(demo_jobs(jobs), seed=seed)
    sim.cluster.config.transient_rate = 0.1
    runner = await serve(sim, "127.0.0.1", 0)
    started = time.monotonic()
    try:
        url = "http://{}:{}".format(*runner.addresses[0][:2])
        holdings: Holdings = []
        died = await kill_loop(
            db,
            url,
            jobs=jobs,
            kills=kills,
            rng=random.Random(seed),
            tasks=sim.cluster.tasks,
            holdings=holdings,
        )
        stats = sim.stats()
    finally:
        await runner.cleanup()
    return SoakResult(
        scenario="steady Overlord, 10% transient failures",
        jobs=jobs,
        kills=kills,
        wall_s=time.monotonic() - started,
        died=died,
        duplicate_submissions=stats["duplicate_submissions"],
        max_live_tasks_per_interval=stats["max_live_tasks_per_interval"],
        problems=await log_problems(db, jobs, holdings),
    )


async def restarts_and_failover(db: Path, jobs: int, kills: int, seed: int) -> SoakResult:
    first = demo_simulator(demo_jobs(jobs), seed=seed)
    # Past ten forgotten tasks a job's losses count against its attempts; random transient
    # failures on top could then rightly use them up, which is not what this run checks.
    first.cluster.config.transient_rate = 0.0
    # Slower tasks, so that Overlord restarts find running tasks to forget.
    first.cluster.config.min_duration_s, first.cluster.config.max_duration_s = 1.0, 3.0
    second = Simulator(first.config)
    second.cluster = first.cluster  # one task store (metadata database) behind two Overlords
    runner_a = await serve(first, "127.0.0.1", 0)
    runner_b = await serve(second, "127.0.0.1", 0)
    url_a = "http://{}:{}".format(*runner_a.addresses[0][:2])
    url_b = "http://{}:{}".format(*runner_b.addresses[0][:2])
    second.leader_url = url_a  # b starts as a standby: it redirects to a
    forgotten = 0
    every = max(1, kills // RESTARTS)
    restart_rounds = {1 + every * i for i in range(RESTARTS)}

    def chaos(round_: int) -> None:
        nonlocal forgotten
        if round_ in restart_rounds:
            leader = first if first.leader_url is None else second
            forgotten += leader.restart("forget", RESTART_DOWN_S, RESTART_WARMUP_S)
        if round_ % 4 == 3:  # failover: the standby becomes the leader and vice versa
            if second.leader_url is None:
                second.leader_url, first.leader_url = url_a, None
            else:
                second.leader_url, first.leader_url = None, url_b

    started = time.monotonic()
    holdings: Holdings = []
    try:
        died = await kill_loop(
            db,
            url_b,
            jobs=jobs,
            kills=kills,
            rng=random.Random(seed),
            tasks=first.cluster.tasks,
            holdings=holdings,
            during=chaos,
        )
    finally:
        await runner_b.cleanup()
        await runner_a.cleanup()
    return SoakResult(
        scenario="Overlord restarts (forgetting tasks) and leader failovers",
        jobs=jobs,
        kills=kills,
        wall_s=time.monotonic() - started,
        died=died,
        duplicate_submissions=first.duplicate_submissions + second.duplicate_submissions,
        max_live_tasks_per_interval=first.cluster.max_live_per_interval,
        forgotten_by_restarts=forgotten,
        refused_while_restarting=sum(
            sim.fault_state.injected[kind]
            for sim in (first, second)
            for kind in ("no_leader_503", "warmup_503")
        ),
        problems=await log_problems(db, jobs, holdings),
    )


async def soak(args: argparse.Namespace) -> list[SoakResult]:
    results: list[SoakResult] = []
    with TemporaryDirectory(prefix="crash-soak-") as tmp:
        for run in (steady, restarts_and_failover):
            result = await run(Path(tmp) / f"{run.__name__}.db", args.jobs, args.kills, args.seed)
            results.append(result)
            print(
                f"{result.scenario}: {result.jobs} jobs, {result.kills} SIGKILLs "
                f"({result.died.after_intent} right after a submit intent, "
                f"{result.died.after_submit} right after a POST), "
                f"{result.wall_s:.0f} s; duplicate submissions {result.duplicate_submissions}, "
                f"most live tasks for one interval {result.max_live_tasks_per_interval}, "
                f"tasks forgotten by Overlord restarts {result.forgotten_by_restarts}, "
                f"503s while restarting {result.refused_while_restarting}, "
                f"problems {len(result.problems)}",
                flush=True,
            )
            for problem in result.problems[:20]:
                print(f"  {problem}")
    return results


def _block(args: argparse.Namespace, results: list[SoakResult]) -> str:
    command = (
        f"python -m bench.crash_soak --jobs {args.jobs} --kills {args.kills} "
        f"--seed {args.seed} --record"
    )
    lines = [
        f"`{command}` at {results_md.git_commit()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| run | jobs | SIGKILLs | wall | duplicate submits | most live per interval "
        "| tasks forgotten by restarts | 503s while restarting | problems |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.jobs} | {r.kills} | {r.wall_s:.0f} s "
            f"| {r.duplicate_submissions} | {r.max_live_tasks_per_interval} "
            f"| {r.forgotten_by_restarts} | {r.refused_while_restarting} | {len(r.problems)} |"
        )
    return "\n".join(lines)


def _record(block: str) -> None:
    """Rewrite the crash-soak block of RESULTS.md, adding its section at the end if missing."""
    text = (
        results_md.RESULTS.read_text() if results_md.RESULTS.exists() else "# Benchmark results\n"
    )
    if "<!-- BEGIN crash-soak -->" not in text:
        text = (
            text.rstrip()
            + "\n\n## Crash soak\n\n<!-- BEGIN crash-soak -->\n<!-- END crash-soak -->\n"
        )
    results_md.RESULTS.write_text(results_md.replace_block(text, "crash-soak", block))


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--record", action="store_true", help="rewrite the crash-soak block of bench/RESULTS.md"
    )
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    results = asyncio.run(soak(args))
    if args.json:
        Path(args.json).write_bytes(msgspec.json.encode(results))
    if args.record:
        _record(_block(args, results))
    bad = any(
        r.problems or r.duplicate_submissions or r.max_live_tasks_per_interval > 1 for r in results
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(run())
