"""Sub-task parallelism: fixed m against m chosen at admission, one backfill, one run.

    python -m bench.sub_tasks_backfill [--slots 8 32 128] [--days 60] [--fixed 1 2 4 8]
        [--ceiling 8] [--splits 8] [--repeat 1] [--seed 11] [--submit request|one-by-one]
        [--record NAME] [--json OUT]

For each cluster size, a backfill of `--days` one-day parallel jobs (the built-in pipeline)
runs against the simulator with sub-tasks on (`ClusterConfig.sub_tasks`: a parallel task's
splits run as sub-tasks needing slots of their own), once per fixed m (compiled at m, the
slot gate's `adaptive` off) and twice adaptive (compiled at `--ceiling`, m chosen at each
admission: with the gate's defaults, then without `queue_sequential`, so that sequential
attempts wait for free slots here rather than in Druid's queue). Every variant of a cluster
size runs in the same process, one after the other, so the ratios are taken on the same
machine minutes apart; `--repeat` runs the whole set again and the table gives medians.
Each job lists `--splits` input files, as many as the simulator runs sub-tasks for. The
backfill is submitted as the control API accepts the jobs of one request (`--submit
request`: concurrently), or one job after the other as the embedded CLI does.

Reported per variant: makespan (first submit to last success), slot utilisation (slot-seconds
occupied by tasks over capacity x makespan; "work" leaves out parents that only wait for
their sub-tasks), deadlocks (a backfill not done within `--timeout-s`), the simulator's
duplicate submissions, and for the adaptive runs the m its attempts recorded.

One change to the simulator's timing, made here and said in RESULTS.md: its sequential task
(m = 1) runs for one draw of the task duration whatever the input, as long as one sub-task,
where Druid's sequential mode reads every split itself. The benchmark re-arms a sequential
task's timer at `splits x` the mean sub-task duration, so m = 1 does the same work as m > 1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from actors.orchestrator import Orchestrator
from actors.supervision.slots import SlotPolicy
from overlord.sim.server import SimConfig, Simulator, serve
from overlord.sim.tasks import ClusterConfig, SimTask
from service import logging_setup
from service.demo import demo_config
from service.http.jobs import SUBMIT_CONCURRENCY
from specs.compiler import CompiledJob, builtin_template, compile_job
from specs.intervals import Interval

START = datetime(2024, 1, 1, tzinfo=UTC)
SUB_TASK_SHARE = 0.6  # the simulator draws a sub-task's duration at 0.4-0.8 of its parent's


@dataclass
class Outcome:
    slots: int
    variant: str  # "m=4" or "adaptive"
    makespan_s: float
    occupied: float  # slot utilisation, every task
    work: float  # slot utilisation, parents waiting on sub-tasks left out
    deadlocked: bool
    duplicates: int
    submissions: int
    chosen: dict[int, int] = field(default_factory=dict)  # m -> attempts, adaptive only


class SlotMeter:
    """Slot-seconds the simulated tasks occupied, from the cluster's start and end hooks."""

    def __init__(self, sim: Simulator, splits: int) -> None:
        self.cluster = sim.cluster
        self.splits = splits
        self.occupied = 0.0
        self.work = 0.0
        sim.cluster.on_task_start.append(self._started)
        sim.cluster.on_task_end.append(self._ended)

    def _started(self, task: SimTask) -> None:
        if task.type == "index_parallel" and not task.parallel and task.timer is not None:
            # Sequential mode reads every split itself (see the module's docstring).
            task.timer.cancel()
            task.duration_s *= SUB_TASK_SHARE * self.splits
            loop = asyncio.get_running_loop()
            task.timer = loop.call_later(task.duration_s, self.cluster.outcomes.finish, task.id)

    def _ended(self, task: SimTask) -> None:
        if task.started is None:
            return
        took = self.cluster.wall() - task.started
        self.occupied += took
        if not task.parallel:  # a sub-task, or a sequential task: both do the reading
            self.work += took


async def submit_backfill(orch: Orchestrator, jobs: list[CompiledJob], how: str) -> None:
    """Submit the backfill as the product does: "request", as the control API accepts the
    jobs of one request (`druid-orch submit` to a daemon): `SUBMIT_CONCURRENCY` at a time,
    sharing group commits; "one-by-one", as the embedded CLI does, each accepted before the
    next is sent."""
    if how == "one-by-one":
        for job in jobs:
            await orch.submit(job)
        return
    limit = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def one(job: CompiledJob) -> None:
        async with limit:
            await orch.submit(job)

    await asyncio.gather(*(one(job) for job in jobs))


# The adaptive variants: their name, and the SlotPolicy options they turn on.
ADAPTIVE: dict[str, dict[str, bool]] = {
    "adaptive": {},
    "adaptive-queue": {"queue_sequential": False},
}


async def backfill(
    slots: int, m: int | None, args: argparse.Namespace, workdir: Path, *, variant: str = ""
) -> Outcome:
    """One backfill: compiled at `m` with the gate's adaptive choice off, or (None) compiled
    at the ceiling with it on, with the options of `ADAPTIVE[variant]`."""
    workers = max(1, slots // 8)
    sim = Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=getattr(args, "seed", 11),
                workers=workers,
                capacity_per_worker=slots // workers,
                sub_tasks=True,
                sub_task_splits=args.splits,
                min_duration_s=args.min_duration_s,
                max_duration_s=args.max_duration_s,
            )
        )
    )
    meter = SlotMeter(sim, args.splits)
    template = builtin_template()
    ceiling = args.ceiling if m is None else m
    # One listed file per split, so the input's splits match the simulator's.
    uris = [f"https://data.example.com/wikipedia/{{date}}-{n}.json.gz" for n in range(args.splits)]
    template = msgspec.structs.replace(
        template,
        max_sub_tasks=max(template.max_sub_tasks, ceiling),
        input={"type": "http", "uris": uris},
    )
    jobs = [
        compile_job(
            template,
            Interval(START + timedelta(days=n), START + timedelta(days=n + 1)),
            max_sub_tasks=ceiling,
        )
        for n in range(args.days)
    ]
    config = msgspec.structs.replace(
        demo_config(),
        slots=SlotPolicy(
            adaptive=m is None,
            capacity_ttl_s=1.0,
            recheck_s=0.5,
            **(ADAPTIVE[variant or "adaptive"] if m is None else {}),
        ),
    )
    runner = await serve(sim, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    db = workdir / f"{slots}-{m}-{variant}.db"
    deadlocked = False
    chosen: Counter[int] = Counter()
    try:
        async with Orchestrator.open(db, f"http://{host}:{port}", config=config) as orch:
            started = time.monotonic()
            await submit_backfill(orch, jobs, getattr(args, "submit", "request"))
            try:
                async with asyncio.timeout(args.timeout_s):
                    for job in jobs:
                        await orch.wait(job.job_id)
            except TimeoutError:
                deadlocked = True
            makespan = time.monotonic() - started
            for job in jobs:
                for recorded in await orch.history(job.job_id):
                    sub_tasks = getattr(recorded.event, "sub_tasks", None)
                    if sub_tasks is not None:
                        chosen[sub_tasks.m] += 1
    finally:
        await runner.cleanup()
    stats = sim.stats()
    capacity_s = slots * makespan
    return Outcome(
        slots=slots,
        variant=(variant or "adaptive") if m is None else f"m={m}",
        makespan_s=round(makespan, 3),
        occupied=round(meter.occupied / capacity_s, 3),
        work=round(meter.work / capacity_s, 3),
        deadlocked=deadlocked,
        duplicates=int(stats["duplicate_submissions"]),
        submissions=int(stats["submissions"]),
        chosen=dict(sorted(chosen.items())),
    )


async def run(args: argparse.Namespace) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="subtasks-bench-") as tmp:
        for round_ in range(args.repeat):
            for slots in args.slots:
                variants = [(m, "") for m in args.fixed] + [(None, name) for name in ADAPTIVE]
                for m, name in variants:
                    workdir = Path(tmp) / f"r{round_}"
                    workdir.mkdir(exist_ok=True)
                    outcome = await backfill(slots, m, args, workdir, variant=name)
                    print(msgspec.json.encode(asdict(outcome)).decode(), flush=True)
                    outcomes.append(outcome)
    return outcomes


def table(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    """The markdown block: per cluster size, each variant's medians and its ratio to the best
    fixed m and to the default (the built-in template's m)."""
    default = f"m={builtin_template().max_sub_tasks}"
    lines = [
        "| slots | variant | makespan (median) | / best fixed | / default | utilisation "
        "(occupied, work) | deadlocks | duplicates | m chosen (attempts) |",
        "|---:|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for slots in args.slots:
        rows: dict[str, list[Outcome]] = {}
        for outcome in outcomes:
            if outcome.slots == slots:
                rows.setdefault(outcome.variant, []).append(outcome)
        medians = {v: statistics.median(o.makespan_s for o in rs) for v, rs in rows.items()}
        best = min(t for v, t in medians.items() if v.startswith("m="))
        for variant, runs in rows.items():
            chosen: Counter[int] = Counter()
            for outcome in runs:
                chosen.update(outcome.chosen)
            ratio_default = medians[variant] / medians[default] if default in medians else None
            lines.append(
                f"| {slots} | {variant} | {medians[variant]:.2f} s | "
                f"{medians[variant] / best:.2f} | "
                f"{'-' if ratio_default is None else f'{ratio_default:.2f}'} | "
                f"{statistics.median(o.occupied for o in runs):.2f}, "
                f"{statistics.median(o.work for o in runs):.2f} | "
                f"{sum(o.deadlocked for o in runs)} | {sum(o.duplicates for o in runs)} | "
                f"{', '.join(f'{m}: {n}' for m, n in sorted(chosen.items())) or '-'} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--fixed", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--ceiling", type=int, default=8, help="adaptive: the compiled m")
    parser.add_argument("--splits", type=int, default=8, help="input splits per job")
    parser.add_argument("--min-duration-s", type=float, default=0.3)
    parser.add_argument("--max-duration-s", type=float, default=0.5)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=11, help="the simulator's seed")
    parser.add_argument(
        "--submit",
        choices=["request", "one-by-one"],
        default="request",
        help="as the control API accepts one request's jobs, or as the embedded CLI does",
    )
    parser.add_argument("--record", help="write the table into bench/RESULTS.md as this block")
    parser.add_argument("--json", help="write every outcome here")
    args = parser.parse_args(argv)
    logging_setup.configure("warning")
    outcomes = asyncio.run(run(args))
    text = table(outcomes, args)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_bytes(msgspec.json.encode([asdict(o) for o in outcomes]))
    if args.record:
        from bench import results_md

        command = "python -m bench.sub_tasks_backfill " + " ".join(
            sys.argv[1:] if argv is None else argv
        )
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        results_md.update(
            f"sub-tasks:{args.record}",
            f"`{command}`, {when}, commit {results_md.machine()['commit']}:\n\n{text}",
        )
    deadlocks = sum(o.deadlocked for o in outcomes)
    duplicates = sum(o.duplicates for o in outcomes)
    return 1 if deadlocks or duplicates else 0


if __name__ == "__main__":
    sys.exit(main())
