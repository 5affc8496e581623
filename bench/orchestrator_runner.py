"""One side of the lifecycle benchmark: the real orchestrator, in its own process.

    python -m bench.orchestrator_runner --workload W.json --overlord URL --db F --out R.json

Runs every job of the workload through `Orchestrator.open` (file-backed event log,
`synchronous=FULL`, the `HttpOverlord` client, uvloop as `druid-orch` uses it), at most
`--concurrency` live at once, and writes its own measurements to `--out`. The record times of
terminal statuses are read afterwards from the event log by the driver. With `--summaries
off` the appends carry no job summary (`bench.summaryless_log`), for `bench.read_model_e2e`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import signal
import sys
import sysconfig
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from actors.job.actor import JobPolicy
from actors.orchestrator import Orchestrator
from actors.poller import PollerConfig
from actors.settings import OrchestratorConfig
from actors.supervision.policy import RetryPolicy
from actors.supervision.slots import SlotPolicy
from bench.measure import Window
from bench.summaryless_log import orchestrator_log
from bench.workload import Workload
from service import logging_setup

SAMPLE_S = 0.1


def bench_config(
    workload: Workload,
    *,
    chunk: int,
    phase_refresh_s: float,
    poller: Sequence[str] = (),
) -> OrchestratorConfig:
    """The orchestrator's settings for the benchmark; `lifecycle_load` prints them.

    Fairness: every live task is polled about once per `workload.poll_s` (first poll after
    one interval, ceiling one interval, +/-20% jitter), the baseline's cadence, so both sides
    learn of a finished task equally late at worst and the comparison is between the ways of
    polling, not between two poll intervals.

    `poller` holds further `PollerConfig` settings as "name=value" strings, for the fields
    this module does not know (the actors room adds them as the poller evolves).
    """
    extra = {k: float(v) for k, _, v in (item.partition("=") for item in poller)}
    return OrchestratorConfig(
        poller=PollerConfig(
            first_delay_s=workload.poll_s,
            ceiling_s=workload.poll_s,
            chunk=chunk,
            phase_refresh_s=phase_refresh_s,
            **extra,
        ),
        job=JobPolicy(
            retry=RetryPolicy(base_s=workload.retry_delay_s, cap_s=workload.retry_delay_s * 4),
            report_retry_s=min(1.0, workload.retry_delay_s),
        ),
        synchronous="FULL",
        # The workload gives every job a slot of a simulator without sub-tasks: submit them
        # all at once, as before the slot gate, so results stay comparable.
        slots=SlotPolicy(enabled=False),
    )


async def run(
    workload: Workload,
    overlord: str,
    db: str,
    *,
    concurrency: int,
    config: OrchestratorConfig,
    memory_report: str | None = None,
    summaries: bool = True,
) -> dict[str, Any]:
    jobs = workload.compiled()
    outcomes: dict[str, str] = {}
    window = Window()
    submitted = 0
    target = min(len(jobs), concurrency)
    submit_done = 0.0
    stopped = False
    all_live = asyncio.Event()
    async with (
        orchestrator_log(db, config, summaries=summaries) as source,
        Orchestrator.open(source, overlord, config=config) as orch,
    ):
        gc.collect()
        limit = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            nonlocal submitted, submit_done
            job = jobs[index]
            async with limit:
                await orch.submit(job)
                window.live += 1
                submitted += 1
                if submitted == target:
                    submit_done = time.time()
                    all_live.set()
                view = await orch.wait(job.job_id)
                window.live -= 1
                outcomes[job.job_id] = view.phase

        async def sampler() -> None:
            while True:
                due = time.perf_counter() + SAMPLE_S
                await asyncio.sleep(SAMPLE_S)
                window.sample(max(0.0, time.perf_counter() - due))

        async def memory_snapshot(path: str, before: tracemalloc.Snapshot) -> None:
            # Once every job is live and its first poll has come back, the actors hold the
            # steady-state memory of a running job.
            await all_live.wait()
            await asyncio.sleep(config.poller.ceiling_s * 3)
            write_memory_report(path, before, tracemalloc.take_snapshot(), window.live)

        profiling: asyncio.Task[None] | None = None
        if memory_report:
            tracemalloc.start(TRACE_FRAMES)
            profiling = asyncio.create_task(
                memory_snapshot(memory_report, tracemalloc.take_snapshot())
            )

        async def every_job() -> None:
            async with asyncio.TaskGroup() as tg:
                for i in range(len(jobs)):
                    tg.create_task(one(i))

        # SIGTERM from the driver means its time budget ran out: report what was measured.
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        if orch.log.writer_pid is not None:  # the writer works for us: count its CPU too
            window.helpers.append(orch.log.writer_pid)
        window.start()
        sampling = asyncio.create_task(sampler())
        running = asyncio.create_task(every_job())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopped = not running.done()
            if stopped:
                running.cancel()
            await asyncio.gather(running, return_exceptions=stopped)
        finally:
            stopping.cancel()
            sampling.cancel()
            if profiling is not None and not stopped:
                await profiling
        window.stop()
        poller = orch.poller_actor.stats if orch.poller_actor is not None else None
        writer = orch.log.stats
        event_types = dict(orch.counters)
    # Stopped early, per-job figures are per job handed over: the only lifecycles that ran.
    measured = submitted if stopped else len(jobs)
    figures = window.figures(max(1, measured))
    # The writer process's CPU alone (also counted in cpu_s); None with a writer thread.
    writer_cpu_s = figures.pop("helpers_cpu_s") if window.helpers else None
    wall = window.ended - window.started
    return {
        **figures,
        "jobs_measured": measured,
        "partial": stopped,
        "jobs_ended": len(outcomes),
        "submit_s": round(submit_done - window.started, 3) if submit_done else None,
        "events_appended": writer.events,
        "writer_cpu_s": writer_cpu_s,
        "events_per_s": round(writer.events / wall, 1) if wall > 0 else None,
        "commit_batches": writer.batches,
        "mean_batch_events": round(writer.events / writer.batches, 1) if writer.batches else None,
        "event_types": event_types,
        "poller": dataclasses.asdict(poller) if poller is not None else None,
        "outcomes": dict(Counter(outcomes.values())),
        "phases": outcomes,
        "window_start": window.started,
        "window_end": window.ended,
        "rss_samples": window.samples,
    }


TRACE_FRAMES = 8
_ROOT = str(Path(__file__).resolve().parent.parent) + "/"
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"


def _short(filename: str) -> str:
    for prefix in (_ROOT, _STDLIB):
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    return filename.split("site-packages/", 1)[-1]


def write_memory_report(
    path: str, before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, live: int
) -> None:
    """What the live jobs allocated, in bytes per live job (tracemalloc).

    Each allocation is charged to its site and to the innermost frame of this repository
    that led to it, so that an asyncio Task is charged to whoever created it.
    """
    stats = after.compare_to(before, "traceback")
    grown = sum(s.size_diff for s in stats)
    charged: dict[tuple[str, str], list[int]] = {}
    for stat in stats:
        frames = list(reversed(stat.traceback))  # tracemalloc keeps the oldest first
        site = f"{_short(frames[0].filename)}:{frames[0].lineno}"
        ours = next((f for f in frames if f.filename.startswith(_ROOT)), None)
        owner = f"{_short(ours.filename)}:{ours.lineno}" if ours is not None else "-"
        entry = charged.setdefault((owner, site), [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    per = max(1, live)
    lines = [
        f"{live} live jobs; Python heap grew {grown / 2**20:.1f} MiB, {grown / per:,.0f} bytes "
        f"per live job (tracemalloc, {TRACE_FRAMES} frames).",
        "",
        "| innermost frame of ours | allocated at | bytes per live job | blocks per live job |",
        "|---|---|---:|---:|",
    ]
    top = sorted(charged.items(), key=lambda kv: -kv[1][0])[:30]
    for (owner, site), (size, count) in top:
        lines.append(f"| `{owner}` | `{site}` | {size / per:,.0f} | {count / per:.2f} |")
    Path(path).write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True)
    parser.add_argument("--overlord", required=True, help="the simulator's URL")
    parser.add_argument("--db", required=True, help="event log file (created)")
    parser.add_argument("--out", required=True, help="where to write the measurements (JSON)")
    parser.add_argument("--concurrency", type=int, default=0, help="live jobs at most; 0: all")
    parser.add_argument("--chunk", type=int, default=500, help="PollerConfig.chunk")
    parser.add_argument("--phase-refresh-s", type=float, default=5.0)
    parser.add_argument("--poller", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--summaries",
        choices=("on", "off"),
        default="on",
        help="off: appends carry no job summary (bench.summaryless_log, for read_model_e2e)",
    )
    parser.add_argument("--cprofile", help="write a cProfile of the run here (pstats file)")
    parser.add_argument(
        "--memory-report",
        help="trace allocations (slow: the run's other figures are then not comparable) and "
        "write what each live job holds, by source line, here (markdown)",
    )
    args = parser.parse_args(argv)
    logging_setup.configure("warning")
    workload = Workload.load(args.workload)
    config = bench_config(
        workload, chunk=args.chunk, phase_refresh_s=args.phase_refresh_s, poller=args.poller
    )
    coro = run(
        workload,
        args.overlord,
        args.db,
        concurrency=args.concurrency or workload.jobs,
        config=config,
        memory_report=args.memory_report,
        summaries=args.summaries == "on",
    )
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler is not None:
        profiler.enable()
    try:
        result = uvloop.run(coro)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.cprofile)
    result["config"] = msgspec.to_builtins(config)
    with open(args.out, "wb") as f:
        f.write(msgspec.json.encode(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
