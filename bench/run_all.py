"""`make bench`: run every benchmark at a moderate size and rewrite bench/RESULTS.md.

    python -m bench.run_all [--only lifecycle|eventlog|readmodel|crash|subtasks|postgres]
                            [--repeat R]

Steps, in order, each a separate process:

1. the event-log benchmarks, `bench.append_throughput` and `bench.replay_throughput`, when
   they exist, through their own CLI (`--json bench/out/<name>.json`); their section of
   RESULTS.md belongs to them and is left as it is;
2. the lifecycle benchmark at 1,000 jobs with tasks of 10-20 s, both sides, `--repeat`
   rounds, which rewrites its block of the Lifecycle section (`--record make-bench-1000`);
3. the read model's cost end to end, `bench.read_model_e2e`: 3,000 jobs, 1,000 live at once,
   with and without the job-summary rows, `--repeat` rounds (`--json
   bench/out/read_model_e2e.json`; its part of the Issue 20 section is written by hand);
4. the crash soak, `bench.crash_soak` at 600 jobs and 60 SIGKILLs per run, which rewrites
   its block of the Crash soak section (`--record`) and fails the step on any finding;
5. the sub-task benchmark, `bench.sub_tasks_backfill`: 60-day backfills on clusters of 8, 32
   and 128 slots, fixed m against m chosen at admission, which rewrites its block of the
   Sub-task parallelism section (`--record make-bench`) and fails the step on a deadlock or
   a duplicate submission;
6. the header of RESULTS.md: machine, versions, commit, command line and what ran.

About 15 minutes in all, most of it the baseline, whose one structurally failing job per
datasource is retried to the end of its attempts. The 100- and 10,000-job points and the
long-task run take longer than `make bench` should; RESULTS.md gives their commands, and their
blocks are left alone here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import results_md

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
EVENT_LOG_BENCHES = ("append_throughput", "replay_throughput")
# (jobs, shortest and longest task in seconds)
LIFECYCLE_POINTS = ((1000, 10, 20),)


def steps(only: str | None, repeat: int, snapshot: bool = False) -> list[tuple[str, list[str]]]:
    plan: list[tuple[str, list[str]]] = []
    if only in (None, "eventlog"):
        for name in EVENT_LOG_BENCHES:
            if (ROOT / "bench" / f"{name}.py").exists():
                plan.append((name, [f"bench.{name}", "--json", f"bench/out/{name}.json"]))
    if only in (None, "lifecycle"):
        for jobs, shortest, longest in LIFECYCLE_POINTS:
            plan.append(
                (
                    f"lifecycle_load {jobs}",
                    [
                        "bench.lifecycle_load",
                        "--jobs",
                        str(jobs),
                        "--min-duration-s",
                        str(shortest),
                        "--max-duration-s",
                        str(longest),
                        "--repeat",
                        str(repeat),
                        "--record",
                        f"make-bench-{jobs}",
                        "--json",
                        f"bench/out/lifecycle-{jobs}.json",
                        *(["--snapshot"] if snapshot else []),
                    ],
                )
            )
    if only in (None, "readmodel"):
        plan.append(
            (
                "read_model_e2e",
                [
                    *("bench.read_model_e2e", "--jobs", "3000", "--concurrency", "1000"),
                    *("--repeat", str(repeat), "--json", "bench/out/read_model_e2e.json"),
                ],
            )
        )
    if only in (None, "crash"):
        plan.append(
            (
                "crash_soak",
                [
                    *("bench.crash_soak", "--jobs", "600", "--kills", "60", "--record"),
                    *("--json", "bench/out/crash_soak.json"),
                ],
            )
        )
    if only in (None, "subtasks"):
        plan.append(
            (
                "sub_tasks_backfill",
                [
                    *("bench.sub_tasks_backfill", "--record", "make-bench"),
                    *("--json", "bench/out/sub_tasks.json"),
                ],
            )
        )
    if only in (None, "postgres"):  # issue 23, docs/ha.md: on the PostgreSQL at PG_ADMIN_URL
        out = "bench/out"
        plan += [
            ("pg_append", ["bench.pg_append", "--repeat", "3", "--json", f"{out}/pg_append.json"]),
            ("pg_failover", ["bench.pg_failover", "--json", f"{out}/pg_failover.json"]),
            ("pg_takeover", ["bench.pg_takeover", "--json", f"{out}/pg_takeover.json"]),
        ]
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("lifecycle", "eventlog", "readmodel", "crash", "subtasks", "postgres"),
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="lifecycle and read model rounds (default 3)"
    )
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="run the lifecycle benchmark from a snapshot of HEAD (see lifecycle_load)",
    )
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    ran: list[str] = []
    failed = 0
    for name, module_args in steps(args.only, args.repeat, args.snapshot):
        command = [sys.executable, "-m", *module_args]
        shown = "python -m " + " ".join(module_args)
        print(f"== {name}: {shown}", flush=True)
        t0 = time.monotonic()
        code = subprocess.run(command, cwd=ROOT, check=False).returncode
        took = time.monotonic() - t0
        failed += code != 0
        status = "ok" if code == 0 else f"exit {code}"
        ran.append(f"| `{shown}` | {took:.0f} s | {status} |")
        print(f"== {name}: {status} in {took:.0f} s", flush=True)
    m = results_md.machine()
    invoked = " ".join(["python -m bench.run_all", *(argv if argv is not None else sys.argv[1:])])
    header = [
        f"Rewritten by `{invoked}` on {started:%Y-%m-%d %H:%M} UTC "
        "(`make bench` runs `python -m bench.run_all`).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}; shared with "
        "other work, so compare ratios measured in one run, not absolute times across runs.",
        f"- Versions: {m['versions']}.",
        f"- Commit: {m['commit']}.",
        "",
        "| step | took | result |",
        "|---|---:|---|",
        *ran,
    ]
    results_md.update("header", "\n".join(header))
    print(f"rewrote {results_md.RESULTS}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
