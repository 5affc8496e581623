"""Job lifecycles under load: the orchestrator against DruidHook-style polling, side by side.

    python -m bench.lifecycle_load --jobs N [--concurrency C] [--repeat R] [--json OUT]
                                   [--record NAME] [--quick] [--profile cprofile|py-spy]

For each repeat and each side (their order alternates between repeats), the driver starts a
fresh Overlord simulator in its own process (`bench.sim_server`), then the side in its own
process (`bench.orchestrator_runner` or `bench.baseline_hook`), waits for every job to end,
and then reads:

* from the side: wall time, CPU, RSS and live jobs over its measured window;
* from the simulator: Overlord requests by endpoint (`/sim/stats`), and the instant each task
  turned terminal (`/sim/bench/tasks`);
* from the orchestrator's event log: `recorded_at` of every TaskSucceeded / TaskFailed; the
  baseline reports when its hook returned or raised.

Record delay = record time - the simulator's finish time, per task (both wall clocks of this
machine). Ratios are baseline / orchestrator per repeat (higher is better for us), reported as
the median with the min-max over repeats, since the machine is shared and absolute times
wander.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from bench import profile_summary, results_md
from bench.measure import percentile

if TYPE_CHECKING:
    from bench.workload import Workload

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SIDES = ("orchestrator", "baseline")
PYSPY_FILE = "orchestrator.pyspy.txt"
COMMAND_ENV = "DRUID_BENCH_COMMAND"
MEMORY_FILE = "orchestrator.memory.md"
PROFILE_TOP = 25
KEYS = (
    "wall_s",
    "cpu_ms_per_job",
    "rss_mb_per_live_job",
    "overlord_requests_per_job",
    "record_delay_p99_s",
)
EXTRA_KEYS = (
    "sim_cpu_ms_per_job",
    "other_load_cores",
    "peak_rss_mb",
    "peak_live_jobs",
    "sim_peak_running",
    "record_delay_p50_s",
    "record_delay_max_s",
    "events_per_s",
    "submit_s",
    "cpu_util",
)


class SideFailedError(RuntimeError):
    """A side's process failed or timed out; the message says how."""


# --- processes -----------------------------------------------------------------------------


def _python() -> list[str]:
    return [sys.executable]


def start_simulator(workload_file: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `bench.sim_server`; return the process and its URL once it listens."""
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*_python(), "-m", "bench.sim_server", "--workload", str(workload_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    stdout = proc.stdout
    assert stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=60)
    if not line or not line[0].startswith("listening "):
        proc.kill()
        raise SideFailedError(f"simulator did not start; see {log}")
    return proc, line[0].split()[1]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux `/proc/<pid>/stat`)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine have spent busy since boot (`/proc/stat`)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICK


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return json.loads(resp.read())


def side_command(
    side: str, args: argparse.Namespace, workload_file: Path, url: str, run_dir: Path
) -> list[str]:
    out = run_dir / f"{side}.json"
    if side == "orchestrator":
        cmd = [
            "-m",
            "bench.orchestrator_runner",
            "--workload",
            str(workload_file),
            "--overlord",
            url,
            "--db",
            str(run_dir / "events.db"),
            "--out",
            str(out),
            "--concurrency",
            str(args.concurrency),
            "--chunk",
            str(args.chunk),
            "--phase-refresh-s",
            str(args.phase_refresh_s),
            *(f"--poller={item}" for item in args.poller),
            f"--summaries={args.summaries}",
        ]
        if args.profile == "cprofile":
            cmd += ["--cprofile", str(run_dir / "orchestrator.pstats")]
        if args.profile == "memory":
            cmd += ["--memory-report", str(run_dir / MEMORY_FILE)]
        if args.profile == "py-spy":
            spy = Path(sys.executable).with_name("py-spy")
            return [
                str(spy),
                "record",
                "--format",
                "raw",
                "--rate",
                "100",
                "--nonblocking",
                "-o",
                str(run_dir / PYSPY_FILE),
                "--",
                *_python(),
                *cmd,
            ]
        return [*_python(), *cmd]
    return [
        *_python(),
        "-m",
        "bench.baseline_hook",
        "--workload",
        str(workload_file),
        "--overlord",
        url,
        "--out",
        str(out),
        "--concurrency",
        str(args.concurrency),
    ]


def run_side(
    side: str, args: argparse.Namespace, workload: Workload, workload_file: Path, run_dir: Path
) -> dict[str, Any]:
    """One side against a fresh simulator; returns its figures (or why it fell over)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    sim, url = start_simulator(workload_file, run_dir / f"sim-{side}.log")
    try:
        cmd = side_command(side, args, workload_file, url, run_dir)
        timeout = args.timeout_s or side_timeout(workload)
        started = time.time()
        # The simulator's CPU stands for the load on the Overlord; the machine's busy time
        # minus both processes is what other work on this shared machine took meanwhile.
        sim_cpu0, busy0, child0 = process_cpu_s(sim.pid), machine_busy_s(), children_cpu_s()
        with (run_dir / f"{side}.log").open("w") as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=err, stderr=subprocess.STDOUT)
            over_time: str | None = None
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Out of time: SIGTERM makes the side report what it measured so far.
                over_time = f"did not finish within {timeout:g} s"
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    code = -9
                errors = sim_log_errors(run_dir / f"sim-{side}.log")
                if errors:
                    over_time += f"; INVALID RUN: the simulator logged {errors} traceback(s)"
                if code != 0 or not (run_dir / f"{side}.json").exists():
                    why = f"{over_time} and was killed"
                    return {"side": side, "jobs": workload.jobs, "fell_over": why}
        elapsed = time.time() - started
        sim_cpu = process_cpu_s(sim.pid) - sim_cpu0
        side_cpu = children_cpu_s() - child0
        other = (machine_busy_s() - busy0 - sim_cpu - side_cpu) / elapsed
        if code != 0:
            tail = (run_dir / f"{side}.log").read_text()[-2000:]
            raise SideFailedError(
                f"{side} exited with {code} after {time.time() - started:.0f}s:\n{tail}"
            )
        raw = json.loads((run_dir / f"{side}.json").read_text())
        stats = get_json(f"{url}/sim/stats")
        tasks = get_json(f"{url}/sim/bench/tasks")
    finally:
        stop(sim)
    if side == "orchestrator":
        records = orchestrator_records(run_dir / "events.db")
    else:
        records = [(tid, at) for tid, at, _status in raw["records"]]
    result = figures(side, raw, stats, tasks, records, workload)
    if over_time:
        result["fell_over"] = (
            f"{over_time}: stopped after {raw.get('jobs_ended')} of {workload.jobs} jobs had "
            f"ended ({raw.get('jobs_measured')} handed over); its per-job figures are per job "
            "handed over, and it is left out of the ratios"
        )
    result["sim_cpu_s"] = round(sim_cpu, 2)
    result["sim_cpu_ms_per_job"] = round(sim_cpu * 1000 / workload.jobs, 3)
    result["process_cpu_s"] = round(side_cpu, 2)  # start-up and shutdown included
    result["other_load_cores"] = round(max(0.0, other), 2)
    result["sim_log_errors"] = sim_log_errors(run_dir / f"sim-{side}.log")
    return result


def sim_log_errors(log: Path) -> int:
    """Tracebacks in the simulator's log: a simulator bug makes the run meaningless."""
    try:
        return log.read_text(errors="replace").count("Traceback (most recent call last)")
    except OSError:
        return 0


def side_timeout(workload: Workload) -> float:
    """Generous: every attempt at the longest duration, plus a submission rate of 20/s."""
    attempts = 5
    per_attempt = workload.max_duration_s + 3 * workload.poll_s + workload.retry_delay_s * 4
    return 120 + attempts * per_attempt + workload.jobs / 20


def orchestrator_records(db: Path) -> list[tuple[str, float]]:
    """(druid task id, recorded_at) of every terminal status the orchestrator recorded."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT json_extract(body, '$.task_id'), recorded_at FROM events "
            "WHERE type IN ('task_succeeded', 'task_failed')"
        ).fetchall()
    finally:
        conn.close()
    return [(str(r[0]), float(r[1])) for r in rows]


# --- figures -------------------------------------------------------------------------------


def peak_running(tasks: dict[str, list[Any]]) -> int:
    """Most tasks running on simulated workers at one instant (a sweep over start/finish)."""
    edges: list[tuple[float, int]] = []
    for _created, started, finished, _status in tasks.values():
        if started is not None:
            edges.append((started, 1))
            edges.append((finished if finished is not None else float("inf"), -1))
    edges.sort()
    live = peak = 0
    for _t, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def figures(
    side: str,
    raw: dict[str, Any],
    stats: dict[str, Any],
    tasks: dict[str, list[Any]],
    records: list[tuple[str, float]],
    workload: Workload,
) -> dict[str, Any]:
    n = raw.get("jobs_measured") or workload.jobs
    delays = []
    unmatched = 0
    for task_id, recorded in records:
        row = tasks.get(task_id)
        if row is None or row[2] is None:
            unmatched += 1
            continue
        delays.append(recorded - row[2])
    by_endpoint = {k: round(v / n, 3) for k, v in stats["requests"].items()}
    expected: Counter[str] = Counter(e for e, _ in workload.outcomes())
    if side == "baseline":  # DruidHook has no "dead": the Airflow task just fails
        expected = Counter({"succeeded": expected["succeeded"], "failed": expected["dead"]})
    outcomes = raw["outcomes"]
    result = {
        "side": side,
        "jobs": n,
        **{k: raw.get(k) for k in ("wall_s", "cpu_s", "cpu_ms_per_job", "cpu_util", "rss_idle_mb")},
        **{k: raw.get(k) for k in ("peak_rss_mb", "rss_mb_per_live_job", "peak_live_jobs")},
        "sampler_lag_max_s": raw.get("sampler_lag_max_s"),
        "submit_s": raw.get("submit_s"),
        "overlord_requests_per_job": round(stats["requests_total"] / n, 3),
        "overlord_requests_total": stats["requests_total"],
        "requests_by_endpoint_per_job": by_endpoint,
        "submissions": stats["submissions"],
        "duplicate_submissions": stats["duplicate_submissions"],
        "sim_peak_running": peak_running(tasks),
        "record_delay_p50_s": _round(percentile(delays, 50)),
        "record_delay_p99_s": _round(percentile(delays, 99)),
        "record_delay_max_s": _round(max(delays) if delays else None),
        "record_delay_p99_polls": _round(
            (percentile(delays, 99) or 0) / workload.poll_s if delays else None
        ),
        "records": len(delays),
        "records_unmatched": unmatched,
        "events_per_s": raw.get("events_per_s"),
        "events_appended": raw.get("events_appended"),
        "outcomes": outcomes,
        "expected_outcomes": dict(expected),
        "ok": outcomes_match(outcomes, expected),
        "fell_over": raw.get("fell_over"),
        "partial": bool(raw.get("partial")),
        "jobs_ended": raw.get("jobs_ended"),
    }
    for key in (
        "poller",
        "mean_batch_events",
        "commit_batches",
        "writer_cpu_s",
        "client_errors",
        "threads_started",
    ):
        if key in raw:
            result[key] = raw[key]
    return result


def outcomes_match(got: dict[str, int], expected: dict[str, int]) -> bool:
    """Same final phases and counts; a phase with no job may be absent on either side."""
    return {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarise(runs: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians per side, and per-repeat ratios baseline/orchestrator with their spread."""
    out: dict[str, Any] = {}
    for side in SIDES:
        side_runs = [r[side] for r in runs if side in r]
        merged: dict[str, Any] = {"runs": side_runs}
        for key in (*KEYS, *EXTRA_KEYS, "overlord_requests_total"):
            values = [r[key] for r in side_runs if isinstance(r.get(key), int | float)]
            merged[key] = _round(statistics.median(values)) if values else None
            if len(values) > 1:
                merged[f"{key}_range"] = [min(values), max(values)]
        merged["ok"] = bool(side_runs) and all(r.get("ok") for r in side_runs)
        merged["fell_over"] = next((r["fell_over"] for r in side_runs if r.get("fell_over")), None)
        out[side] = merged
    ratios: dict[str, float | None] = {}
    spread: dict[str, list[float]] = {}
    for key in KEYS:
        per_run = []
        for r in runs:
            if any(side.get("partial") for side in r.values()):
                continue  # a side stopped early measured something else
            b = r.get("baseline", {}).get(key)
            o = r.get("orchestrator", {}).get(key)
            if isinstance(b, int | float) and isinstance(o, int | float) and o > 0:
                per_run.append(b / o)
        ratios[key] = _round(statistics.median(per_run), 2) if per_run else None
        if per_run:
            spread[key] = [round(min(per_run), 2), round(max(per_run), 2)]
    out["ratios"] = ratios
    out["ratio_spread"] = spread
    return out


# --- reporting -----------------------------------------------------------------------------

ROWS = (
    ("wall time (s)", "wall_s"),
    ("CPU per job lifecycle, whole process (ms)", "cpu_ms_per_job"),
    ("cores busy in the process, on average", "cpu_util"),
    ("peak RSS (MB)", "peak_rss_mb"),
    ("RSS per live job (MB)", "rss_mb_per_live_job"),
    ("peak live jobs (side) / running tasks (simulator)", None),
    ("Overlord requests per job", "overlord_requests_per_job"),
    ("record delay p50 (s)", "record_delay_p50_s"),
    ("record delay p99 (s)", "record_delay_p99_s"),
    ("record delay max (s)", "record_delay_max_s"),
    ("simulated Overlord CPU per job (ms)", "sim_cpu_ms_per_job"),
    ("events appended per second", "events_per_s"),
    ("time to hand over every job (s)", "submit_s"),
    ("other work on the machine meanwhile (busy cores)", "other_load_cores"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(side: dict[str, Any], key: str) -> str:
    text = _fmt(side.get(key))
    rng = side.get(f"{key}_range")
    if rng and rng[0] != rng[1]:
        text += f" ({_fmt(rng[0])}-{_fmt(rng[1])})"
    return text


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    o, b = summary["orchestrator"], summary["baseline"]
    repeats = meta["repeats"]
    lines = [
        f"`{meta['command']}`",
        "",
        f"{meta['when']} on {meta['machine']['cpu']} ({meta['machine']['cores']} cores, "
        f"{meta['machine']['memory']}), commit {meta['machine']['commit']}. "
        f"{meta['workload_text']} Orchestrator: {meta['poller_text']}. "
        f"Median of {repeats} repeat(s), min-max in brackets.",
        "",
        "| figure | orchestrator | baseline (DruidHook, thread per job) "
        "| ratio baseline/orchestrator |",
        "|---|---:|---:|---:|",
    ]
    ratio_of = {k: k for k in KEYS}
    for label, key in ROWS:
        if key is None:
            ocell = f"{_cell(o, 'peak_live_jobs')} / {_cell(o, 'sim_peak_running')}"
            bcell = f"{_cell(b, 'peak_live_jobs')} / {_cell(b, 'sim_peak_running')}"
            lines.append(f"| {label} | {ocell} | {bcell} | |")
            continue
        ratio = ""
        if key in ratio_of and summary["ratios"].get(key) is not None:
            ratio = f"{summary['ratios'][key]:.3g}x"
            spread = summary["ratio_spread"].get(key)
            if spread and repeats > 1:
                ratio += f" ({spread[0]:.3g}-{spread[1]:.3g})"
        lines.append(f"| {label} | {_cell(o, key)} | {_cell(b, key)} | {ratio} |")
    lines += ["", *_targets(summary, meta), ""]
    endpoints = _endpoint_table(o, b)
    if endpoints:
        lines += endpoints
    notes = []
    for name, side in (("orchestrator", o), ("baseline", b)):
        if not side["runs"]:
            continue  # not run (--sides)
        if side.get("fell_over"):
            notes.append(f"- {name} fell over: {side['fell_over']}")
        if not side.get("ok"):
            got = [r.get("outcomes") for r in side["runs"]]
            want = side["runs"][0].get("expected_outcomes") if side["runs"] else None
            notes.append(f"- {name} outcomes {got} differ from the expected {want}")
        sim_errors = sum(r.get("sim_log_errors") or 0 for r in side["runs"])
        if sim_errors:
            notes.append(f"- {name}: the simulator logged {sim_errors} traceback(s) in its runs")
        errors = [r.get("client_errors") for r in side["runs"] if r.get("client_errors")]
        if errors:
            notes.append(f"- {name} client errors per repeat: {errors}")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _targets(summary: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """The issue's targets, checked against this run's figures."""
    o, r = summary["orchestrator"], summary["ratios"]
    jobs, poll = meta["workload"]["jobs"], meta["workload"]["poll_s"]

    def check(ok: bool | None) -> str:
        return "not measured here" if ok is None else ("met" if ok else "**missed**")

    def ratio_line(label: str, key: str, want: float) -> str:
        got = r.get(key)
        if got is None:
            return f"- {label} at least {want:g}x fewer: not measured here (one side only)"
        return f"- {label} at least {want:g}x fewer: {_fmt(got)}x, {check(got >= want)}"

    p99 = o.get("record_delay_p99_s")
    live = o.get("peak_live_jobs")
    lines = [
        "Targets:",
        f"- {jobs:,} concurrent jobs in one process: peak {_fmt(live)} live in the "
        f"orchestrator, {_fmt(o.get('sim_peak_running'))} running at once in the simulator, "
        f"{check(None if live is None else live >= jobs)}",
        ratio_line("Overlord requests per job", "overlord_requests_per_job", 100),
        ratio_line("CPU per job", "cpu_ms_per_job", 10),
        ratio_line("memory per live job", "rss_mb_per_live_job", 10),
        f"- record delay p99 under 2 poll intervals ({2 * poll:g} s): {_fmt(p99)} s = "
        f"{_fmt(None if p99 is None else round(p99 / poll, 2))} intervals, "
        f"{check(None if p99 is None else p99 < 2 * poll)}",
    ]
    return lines


def _endpoint_table(o: dict[str, Any], b: dict[str, Any]) -> list[str]:
    runs_o, runs_b = o.get("runs") or [], b.get("runs") or []
    if not runs_o and not runs_b:
        return []
    names = sorted(
        {k for r in runs_o + runs_b for k in (r.get("requests_by_endpoint_per_job") or {})}
    )

    def med(runs: list[dict[str, Any]], name: str) -> str:
        values = [(r.get("requests_by_endpoint_per_job") or {}).get(name, 0.0) for r in runs]
        return _fmt(round(statistics.median(values), 3)) if values else "-"

    lines = [
        "| Overlord requests per job, by endpoint | orchestrator | baseline |",
        "|---|---:|---:|",
    ]
    for name in names:
        lines.append(f"| `{name}` | {med(runs_o, name)} | {med(runs_b, name)} |")
    return lines


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=None, help="jobs per side (100; --quick: 20)")
    p.add_argument("--concurrency", type=int, default=0, help="live jobs at most; 0: all")
    p.add_argument("--repeat", type=int, default=1, help="rounds of both sides (default 1)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-duration-s", type=float, default=None)
    p.add_argument("--max-duration-s", type=float, default=None)
    p.add_argument("--transient-rate", type=float, default=None, help="0.05; --quick: 0.2")
    p.add_argument("--structural-rate", type=float, default=None, help="0.01; --quick: 0.1")
    p.add_argument("--sides", default="both", choices=("both", *SIDES))
    p.add_argument("--chunk", type=int, default=500, help="orchestrator PollerConfig.chunk")
    p.add_argument("--phase-refresh-s", type=float, default=5.0)
    p.add_argument(
        "--poller",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another orchestrator PollerConfig setting, e.g. min_round_gap_s=0.5 (repeatable)",
    )
    p.add_argument(
        "--profile",
        choices=("cprofile", "py-spy", "memory"),
        help="profile the orchestrator (memory: tracemalloc, which slows it down a lot)",
    )
    p.add_argument(
        "--summaries",
        choices=("on", "off"),
        default="on",
        help="off: the orchestrator's appends carry no job summary (bench.read_model_e2e)",
    )
    p.add_argument("--timeout-s", type=float, default=0.0, help="per side; 0: from the workload")
    p.add_argument("--record", help="rewrite block lifecycle:NAME of bench/RESULTS.md")
    p.add_argument("--out-dir", help="scratch directory (default bench/out/lifecycle-...)")
    p.add_argument("--rerender", metavar="JSON", help="render a saved report again; no run")
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="run from a snapshot of HEAD (git archive), not from the live working tree",
    )
    args = p.parse_args(argv)
    if args.jobs is None:
        args.jobs = 20 if args.quick else 100
    # The smoke run fails more often, so that its few jobs take every path.
    if args.transient_rate is None:
        args.transient_rate = 0.2 if args.quick else 0.05
    if args.structural_rate is None:
        args.structural_rate = 0.1 if args.quick else 0.01
    if args.min_duration_s is None:
        args.min_duration_s = 0.5 if args.quick else 20.0
    if args.max_duration_s is None:
        args.max_duration_s = 1.5 if args.quick else 40.0
    return args


def run_from_snapshot(argv: Sequence[str]) -> int:
    """Run this command again from a snapshot of HEAD, and return its exit code.

    Others commit to and edit this tree while a run lasts; a module imported late, or a
    simulator restarted between repeats, would otherwise measure a different program than
    the one the run started with. The snapshot is `git archive HEAD` (uncommitted changes
    left out) under bench/out/; results still go to the working tree's RESULTS.md.
    """
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = OUT / f"tree-{sha[:12]}"
    if not tree.exists():
        partial = tree.with_name(tree.name + ".partial")
        partial.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(tree)
    rest = list(argv)
    rest.remove("--snapshot")
    for flag in ("--json", "--out-dir"):
        if flag in rest:
            i = rest.index(flag) + 1
            rest[i] = str(Path(rest[i]).resolve())
    if "--out-dir" not in rest:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        rest += ["--out-dir", str(OUT / f"lifecycle-snapshot-{stamp}")]
    env = {
        **os.environ,
        "DRUID_BENCH_RESULTS": str(results_md.RESULTS.resolve()),
        results_md.COMMIT_ENV: f"{sha[:7]} (snapshot of HEAD; uncommitted changes left out)",
        COMMAND_ENV: "python -m bench.lifecycle_load " + shlex.join(argv),
    }
    cmd = [sys.executable, "-m", "bench.lifecycle_load", *rest]
    return subprocess.run(cmd, cwd=tree, env=env, check=False).returncode


def profile_sections(out_dir: Path) -> str:
    """The py-spy summary and the memory report of repeat 1, when the run made them."""
    text = ""
    profile = out_dir / f"r0-orchestrator/{PYSPY_FILE}"
    if profile.exists():
        text += (
            "\nWhere the orchestrator's active time went (py-spy, repeat 1; "
            f"`python -m bench.profile_summary <profile> --top {PROFILE_TOP}`):\n\n"
            + profile_summary.summarise(profile_summary.parse(profile.read_text()), PROFILE_TOP)
        )
    memory = out_dir / f"r0-orchestrator/{MEMORY_FILE}"
    if memory.exists():
        text += "\nWhat a live job holds in the orchestrator (repeat 1):\n\n" + memory.read_text()
    return text


def rerender(path: str, record: str | None) -> int:
    """Render a saved `--json` report again with this code (figures untouched)."""
    report = json.loads(Path(path).read_text())
    for side in SIDES:
        runs = report[side]["runs"]
        for run in runs:
            if "outcomes" in run:
                run["ok"] = outcomes_match(run["outcomes"], run.get("expected_outcomes") or {})
        report[side]["ok"] = bool(runs) and all(r.get("ok") for r in runs)
    text = markdown(report, report["meta"]) + profile_sections(Path(report["meta"]["out_dir"]))
    text += (
        "\n(Rendered again from its JSON report by "
        f"`python -m bench.lifecycle_load --rerender {path}`.)\n"
    )
    print(text)
    if record:
        results_md.update(f"lifecycle:{record}", f"#### {record}\n\n{text}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rerender:
        return rerender(args.rerender, args.record)
    if args.snapshot:
        return run_from_snapshot(list(argv if argv is not None else sys.argv[1:]))
    # Imported only now: with --snapshot the working tree (which others are editing, and
    # which may not even import at this moment) must not be needed.
    from bench.orchestrator_runner import bench_config
    from bench.workload import Workload

    workload = Workload(
        jobs=args.jobs,
        seed=args.seed,
        min_duration_s=args.min_duration_s,
        max_duration_s=args.max_duration_s,
        transient_rate=args.transient_rate,
        structural_rate=args.structural_rate,
        retry_delay_s=0.2 if args.quick else 1.0,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out_dir) if args.out_dir else OUT / f"lifecycle-{args.jobs}-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    workload_file = out_dir / "workload.json"
    workload.save(workload_file)
    config = bench_config(
        workload, chunk=args.chunk, phase_refresh_s=args.phase_refresh_s, poller=args.poller
    )
    poller = config.poller
    meta = {
        "command": os.environ.get(COMMAND_ENV)
        or "python -m bench.lifecycle_load " + shlex.join(argv or sys.argv[1:]),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": results_md.machine(),
        "repeats": args.repeat,
        "workload": msgspec.to_builtins(workload),
        "orchestrator_config": msgspec.to_builtins(config),
        "workload_text": (
            f"{workload.jobs:,} jobs over {workload.datasource_count} datasource(s), all live at "
            f"once{'' if not args.concurrency else f' (at most {args.concurrency})'}; task "
            f"durations U[{workload.min_duration_s:g}, {workload.max_duration_s:g}] s; "
            f"{workload.transient_rate:.0%} fail once transiently, "
            f"{workload.structural_rate:.0%} fail structurally; baseline polls every "
            f"{workload.poll_s:g} s, retry_delay {workload.retry_delay_s:g} s."
        ),
        "poller_text": (
            "PollerConfig("
            + ", ".join(f"{k}={v:g}" for k, v in msgspec.to_builtins(poller).items())
            + "), synchronous=FULL, slot gate off (the simulator runs no sub-tasks)"
            + ("; profiled with py-spy at 100 Hz" if args.profile == "py-spy" else "")
            + ("; profiled with cProfile" if args.profile == "cprofile" else "")
            + (
                "; **allocations traced with tracemalloc: CPU and time figures are distorted**"
                if args.profile == "memory"
                else ""
            )
        ),
        "out_dir": str(out_dir),
    }
    sides = SIDES if args.sides == "both" else (args.sides,)
    runs: list[dict[str, dict[str, Any]]] = []
    for r in range(args.repeat):
        order = sides if r % 2 == 0 else tuple(reversed(sides))
        run: dict[str, dict[str, Any]] = {}
        for side in order:
            print(f"[repeat {r + 1}/{args.repeat}] {side}: {workload.jobs} jobs ...", flush=True)
            result = run_side(side, args, workload, workload_file, out_dir / f"r{r}-{side}")
            run[side] = result
            print(f"  {_one_line(result)}", flush=True)
        runs.append(run)
    summary = summarise(runs)
    report = {"meta": meta, **summary}
    text = markdown(summary, meta)
    print()
    print(text)
    if args.json:
        Path(args.json).write_bytes(msgspec.json.encode(report))
    else:
        (out_dir / "result.json").write_bytes(msgspec.json.encode(report))
    text += profile_sections(out_dir)
    if args.profile:
        print(profile_sections(out_dir))
    if args.record:
        results_md.update(f"lifecycle:{args.record}", f"#### {args.record}\n\n{text}")
    # The baseline may fall over (that is a finding); the orchestrator may not.
    ok = all(summary[s]["ok"] for s in sides if s == "orchestrator" or not summary[s]["fell_over"])
    return 0 if ok else 1


def _one_line(r: dict[str, Any]) -> str:
    if r.get("wall_s") is None:
        return f"fell over: {r.get('fell_over')}"
    return (
        f"wall {r['wall_s']}s, cpu {r['cpu_ms_per_job']} ms/job, rss/live job "
        f"{r['rss_mb_per_live_job']} MB (peak {r['peak_rss_mb']} MB, {r['peak_live_jobs']} live),"
        f" {r['overlord_requests_per_job']} req/job, delay p50/p99 {r['record_delay_p50_s']}/"
        f"{r['record_delay_p99_s']} s, sim cpu {r['sim_cpu_s']} s, other load "
        f"{r['other_load_cores']} cores, outcomes {r['outcomes']}"
        f"{'' if r['ok'] else ' (UNEXPECTED)'}"
    )


if __name__ == "__main__":
    sys.exit(main())
