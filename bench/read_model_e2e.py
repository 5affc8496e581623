"""The read model's cost end to end: the orchestrator's real job lifecycles with and without
the job-summary rows, alternated in one run.

    python -m bench.read_model_e2e [--jobs N] [--concurrency C] [--repeat R] [--quick]
                                   [--json OUT]

Each round runs the lifecycle benchmark's orchestrator side twice (`bench.lifecycle_load`:
a fresh Overlord simulator in a process of its own, then `bench.orchestrator_runner` in
another, with the daemon's log settings: a file, the writer process, `synchronous=FULL`):
once as shipped, once with `--summaries off` (`bench.summaryless_log` says why that run does
the same work). The order alternates between rounds. Per run: jobs and events appended per
second over the runner's window, CPU per job (the orchestrator's process and its writer),
the writer's CPU alone; per round, each figure with / without. The machine is shared: only
the ratios within one run mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import lifecycle_load
from bench.workload import Workload

VARIANTS = (("with", "on"), ("without", "off"))
# compared per round as with / without: below 1 for rates, or above 1 for CPU, is the cost
RATIOS = ("jobs_per_s", "events_per_s", "cpu_ms_per_job", "writer_cpu_ms_per_job")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.read_model_e2e", description=__doc__)
    p.add_argument("--jobs", type=int, help="jobs per run (3,000; --quick: 6)")
    p.add_argument("--concurrency", type=int, help="live jobs at most (1,000; --quick: 6)")
    p.add_argument("--repeat", type=int, default=3, help="rounds of both variants")
    p.add_argument("--min-duration-s", type=float, help="shortest simulated task (0.5; quick 0.2)")
    p.add_argument("--max-duration-s", type=float, help="longest simulated task (1.5; quick 0.5)")
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--out-dir", help="scratch directory (default bench/out/read-model-e2e-...)")
    args = p.parse_args(argv)
    if args.jobs is None:
        args.jobs = 6 if args.quick else 3000
    if args.concurrency is None:
        args.concurrency = 6 if args.quick else 1000
    if args.min_duration_s is None:
        args.min_duration_s = 0.2 if args.quick else 0.5
    if args.max_duration_s is None:
        args.max_duration_s = 0.5 if args.quick else 1.5
    return args


def derived(run: dict[str, Any], jobs: int) -> dict[str, Any]:
    """The figures compared, from one run of `lifecycle_load.run_side`."""
    wall, writer_cpu = run.get("wall_s"), run.get("writer_cpu_s")
    events = run.get("events_appended") or 0
    return {
        "jobs_per_s": jobs / wall if wall else None,
        "events_per_s": run.get("events_per_s"),
        "events_per_job": events / jobs,
        "cpu_ms_per_job": run.get("cpu_ms_per_job"),
        "writer_cpu_ms_per_job": None if writer_cpu is None else 1000 * writer_cpu / jobs,
        "writer_cpu_us_per_event": None
        if writer_cpu is None or not events
        else 1e6 * writer_cpu / events,
    }


def summary_of_us() -> float:
    """Microseconds per `summary_of` call: the part of the projection's cost that both
    variants pay (the summary is built before the append), which the ratios leave out."""
    from actors.job.summary import summary_of
    from bench.read_model import _job_events

    _job_id, _events, state = _job_events(0)
    calls = 20_000
    started = time.process_time()
    for _ in range(calls):
        summary_of(state)
    return 1e6 * (time.process_time() - started) / calls


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, _flag in VARIANTS:
        figures = [r[name]["figures"] for r in rounds]
        out[name] = {k: _median([f[k] for f in figures]) for k in figures[0]}
    for key in RATIOS:
        ratios = []
        for r in rounds:
            w, wo = r["with"]["figures"].get(key), r["without"]["figures"].get(key)
            ratios.append(w / wo if w is not None and wo else None)
        out.setdefault("ratios", {})[key] = {"median": _median(ratios), "rounds": ratios}
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(summary: dict[str, Any], us_summary_of: float) -> str:
    lines = [
        f"{'variant (median)':<18}{'jobs/s':>9}{'events/s':>10}{'events/job':>11}"
        f"{'CPU ms/job':>12}{'writer CPU ms/job':>19}{'writer us/event':>17}",
    ]
    for name, _flag in VARIANTS:
        f = summary[name]
        lines.append(
            f"{name:<18}{_fmt(f['jobs_per_s']):>9}{_fmt(f['events_per_s']):>10}"
            f"{_fmt(f['events_per_job'], 2):>11}{_fmt(f['cpu_ms_per_job'], 2):>12}"
            f"{_fmt(f['writer_cpu_ms_per_job'], 2):>19}{_fmt(f['writer_cpu_us_per_event']):>17}"
        )
    lines.append("with / without, median (every round):")
    for key, ratio in summary["ratios"].items():
        rounds = ", ".join(_fmt(r, 3) for r in ratio["rounds"])
        lines.append(f"  {key:<24}{_fmt(ratio['median'], 3):>7}  ({rounds})")
    per_job = us_summary_of * (summary["with"]["events_per_job"] or 0) / 1000
    lines.append(
        f"summary_of, paid by both variants: {us_summary_of:.1f} us per call, about "
        f"{per_job:.3f} ms per job (one call per append, close to one per event)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    workload = Workload(
        jobs=args.jobs,
        min_duration_s=args.min_duration_s,
        max_duration_s=args.max_duration_s,
        retry_delay_s=0.2 if args.quick else 1.0,
        # --quick still takes the paths of a transient retry and of a dead job
        transient_rate=0.2 if args.quick else 0.05,
        structural_rate=0.2 if args.quick else 0.01,
    )
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out_dir or lifecycle_load.OUT / f"read-model-e2e-{args.jobs}-{stamp}")
    if out_dir.exists() and any(out_dir.iterdir()):
        # Each run needs a fresh log: on an old one its jobs are done before they start, and
        # the run without rows would not find them (its summaries lived in memory).
        print(f"read_model_e2e: {out_dir} is not empty; choose a new --out-dir", file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    workload_file = out_dir / "workload.json"
    workload.save(workload_file)
    sides = {
        name: lifecycle_load.parse_args(
            [
                *("--jobs", str(args.jobs), "--concurrency", str(args.concurrency)),
                *("--summaries", flag, "--sides", "orchestrator"),
            ]
        )
        for name, flag in VARIANTS
    }
    rounds: list[dict[str, dict[str, Any]]] = []
    ok = True
    for r in range(args.repeat):
        order = VARIANTS if r % 2 == 0 else tuple(reversed(VARIANTS))
        this: dict[str, dict[str, Any]] = {}
        for name, _flag in order:
            load_before = os.getloadavg()
            run = lifecycle_load.run_side(
                "orchestrator", sides[name], workload, workload_file, out_dir / f"r{r}-{name}"
            )
            run["load_average"] = [load_before, os.getloadavg()]
            run["figures"] = derived(run, workload.jobs)
            ok = ok and bool(run.get("ok")) and not run.get("fell_over")
            this[name] = run
            f = run["figures"]
            print(
                f"[round {r + 1}/{args.repeat}] {name:<7} {_fmt(f['jobs_per_s'])} jobs/s, "
                f"{_fmt(f['events_per_s'])} events/s, CPU {_fmt(f['cpu_ms_per_job'], 2)} ms/job "
                f"(writer {_fmt(f['writer_cpu_ms_per_job'], 2)}), outcomes {run.get('outcomes')}"
                f"{'' if run.get('ok') else ' (UNEXPECTED)'}, load {load_before[0]:.2f}",
                flush=True,
            )
        rounds.append(this)
    summary = summarise(rounds)
    us = summary_of_us()
    print(report(summary, us), flush=True)
    if args.json:
        record = {
            "command": "python -m bench.read_model_e2e "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "ended": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "workload": {"jobs": args.jobs, "concurrency": args.concurrency},
            "summary_of_us": us,
            **summary,
            "runs": rounds,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
