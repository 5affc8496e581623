"""`druid-orch demo`: the whole path, end to end, in one process and well under a minute.

It starts the Overlord simulator on a free loopback port, compiles N daily `index_parallel`
jobs from the built-in example pipeline, runs them through the orchestrator (event log, task
actors, bulk poller, supervisor), and prints progress and a summary. The simulator fails some
attempts transiently (they are retried) and one day's input is corrupt (a structural failure,
which must not be retried), so both failure paths show.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from actors.job.actor import JobPolicy
from actors.job.state import PHASES
from actors.job.view import JobView
from actors.orchestrator import Orchestrator
from actors.poller import PollerConfig
from actors.settings import OrchestratorConfig
from actors.stream_names import SUPERVISOR_PREFIX
from actors.supervision.alerts import Alert, LogAlertSink
from actors.supervision.policy import RetryPolicy
from eventlog.events import FailureClassified, RetryScheduled
from overlord.client import HttpOverlord
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator, serve
from service.metrics import Metrics
from specs.compiler import CompiledJob, builtin_template, compile_job
from specs.intervals import Interval

DEMO_START = datetime(2024, 1, 1, tzinfo=UTC)
CORRUPT_DAY = 6  # 0-based index of the day whose input the simulator treats as unparseable


class PrintedAlerts(LogAlertSink):
    """The demo shows alerts as one readable line each (the log line has every detail)."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def raise_alert(self, alert: Alert) -> None:
        self.sent.append(alert)
        if alert.job_id.startswith(SUPERVISOR_PREFIX):  # a stream's reading, not a job's
            # What the rule says, not the Java exception it matched (the log has that).
            said = re.split(r": (?=[a-z]+\.[a-z]+\.)", alert.reason, maxsplit=1)[0]
            line = f"{alert.job_id}: {alert.classification} ({alert.rule}): {said}"
        else:
            day = alert.interval.split("T", 1)[0]
            line = (
                f"{alert.datasource}/{day}: {alert.classification} failure, rule "
                f"{alert.rule}: not retried, a person should look"
            )
        self.out.write(f"ALERT {line}\n")


def demo_jobs(count: int) -> list[CompiledJob]:
    template = builtin_template("wikipedia")
    jobs = []
    for day in range(count):
        start = DEMO_START + timedelta(days=day)
        jobs.append(
            compile_job(template, Interval(start, start + timedelta(days=1)), max_sub_tasks=2)
        )
    return jobs


def demo_simulator(jobs: list[CompiledJob], seed: int, *, sub_tasks: bool = False) -> Simulator:
    """The demo's cluster: 8 slots, short tasks, a quarter failing once transiently.

    `sub_tasks`: run each parallel job's splits as tasks of their own, each in a slot, as
    Druid does; the demo turns it on (the slot gate then keeps the backfill from filling
    every slot with parent tasks), the crash soak leaves it off to keep its burst.
    """
    scripted = {}
    if len(jobs) > CORRUPT_DAY:
        bad = jobs[CORRUPT_DAY]
        scripted[f"{bad.datasource}/{bad.interval}"] = ["structural:parse_errors"]
    cluster = ClusterConfig(
        seed=seed,
        workers=2,
        capacity_per_worker=4,
        min_duration_s=0.2,
        max_duration_s=1.0,
        sub_tasks=sub_tasks,
        transient_rate=0.25,
        structural_rate=0.0,
        scripted=scripted,
    )
    return Simulator(SimConfig(cluster=cluster))


def expected_phase(index: int, count: int) -> str:
    return "dead" if count > CORRUPT_DAY and index == CORRUPT_DAY else "succeeded"


def demo_config() -> OrchestratorConfig:
    return OrchestratorConfig(
        poller=PollerConfig(
            first_delay_s=0.1, ceiling_s=0.5, phase_refresh_s=0.3, min_round_gap_s=0.1
        ),
        job=JobPolicy(
            retry=RetryPolicy(base_s=0.2, cap_s=1.0),
            submit_retry=RetryPolicy(base_s=0.1, cap_s=1.0),
            report_retry_s=0.1,
        ),
    )


async def run_demo(
    *,
    jobs: int = 24,
    seed: int = 7,
    db: str | None = None,
    out: TextIO = sys.stdout,
    timeout_s: float = 50.0,
    batch: bool = True,
    hybrid: bool = True,
    ui: bool = False,
) -> int:
    """The batch demo, then (`hybrid`) the batch-and-streaming one (`service.demo_hybrid`).
    `ui`: after the batch demo's summary, serve the web console until Ctrl-C (no hybrid)."""
    # Imported here: the hybrid half prints its alerts with this module's PrintedAlerts.
    from service.demo_hybrid import run_hybrid_demo

    if not batch:
        return await run_hybrid_demo(demo_config(), seed=seed, db=db, out=out)
    compiled = demo_jobs(jobs)
    sim = demo_simulator(compiled, seed, sub_tasks=True)
    runner = await serve(sim, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="druid-orch-demo-")
        db = str(Path(tmp.name) / "demo.db")
    started = time.monotonic()
    where = f"event log {db}" if tmp is None else "a temporary event log (--db PATH keeps it)"
    out.write(f"druid-orch demo: {jobs} jobs, simulator at {url}, {where}\n")
    # With the console, the Overlord client is counted as the daemon's is, so the Health
    # view's request rates are the demo's own.
    client = HttpOverlord(url) if ui else None
    metrics = Metrics() if ui else None
    try:
        alerts = PrintedAlerts(out)
        overlord = metrics.instrument(client) if metrics and client else url
        async with Orchestrator.open(db, overlord, config=demo_config(), alerts=alerts) as orch:
            if metrics is not None and client is not None:
                metrics.bind(orch, http_requests=lambda: client.requests)
            for job in compiled:
                await orch.submit(job)
            views = await _track(orch, compiled, out, started, timeout_s)
            stats = sim.stats()
            if ui:
                from service.ui.demo import keep_serving

                ok = _summary(views, compiled, out)
                await keep_serving(orch, out, metrics=metrics)
                return 0 if ok else 1
    finally:
        if client is not None:
            await client.close()
        await runner.cleanup()
        if tmp is not None:
            tmp.cleanup()
    ok = _summary(views, compiled, out)
    elapsed = time.monotonic() - started
    requests = stats["requests_total"]
    out.write(
        f"\n{len(views)} jobs in {elapsed:.1f}s; Overlord requests: {requests} "
        f"({requests / max(1, len(views)):.1f} per job); duplicate submissions: "
        f"{stats['duplicate_submissions']}; most live tasks for one interval: "
        f"{stats['max_live_tasks_per_interval']}\n"
    )
    out.write("all jobs reached their expected state\n" if ok else "UNEXPECTED final states\n")
    if not hybrid:
        out.write(next_steps(None if tmp is not None else db))
        return 0 if ok else 1
    hybrid_db = None if db is None or tmp is not None else f"{db}.hybrid"
    hybrid_code = await run_hybrid_demo(demo_config(), seed=seed, db=hybrid_db, out=out)
    out.write(next_steps(None if tmp is not None else db))
    return 0 if ok and hybrid_code == 0 else 1


async def _track(
    orch: Orchestrator, jobs: list[CompiledJob], out: TextIO, started: float, timeout_s: float
) -> list[JobView]:
    deadline = started + timeout_s
    told: set[tuple[str, int]] = set()
    while True:
        views = [await orch.get(j.job_id) for j in jobs]
        counts = Counter(v.phase for v in views if v is not None)
        line = " · ".join(f"{p} {counts[p]}" for p in PHASES if counts[p])
        # The slot gate at work: jobs accepted but held until slots free up.
        gated = sum(1 for v in views if v is not None and v.held and "slots" in v.held)
        if gated:
            line += f"  ({gated} waiting for worker slots)"
        out.write(f"[{time.monotonic() - started:5.1f}s] {line}\n")
        for view in views:
            if view is not None and view.attempt > 1 and (view.job_id, view.attempt) not in told:
                told.add((view.job_id, view.attempt))
                await _tell_retry(orch, view, out)
        out.flush()
        if all(v is not None and v.terminal for v in views) or time.monotonic() > deadline:
            return [v for v in views if v is not None]
        await asyncio.sleep(0.5)


async def _tell_retry(orch: Orchestrator, view: JobView, out: TextIO) -> None:
    """A retry, once: which day, which attempt, after how long, and why (the classified
    reason of the failure before it, from the log: a round may not see the job waiting)."""
    classified: FailureClassified | None = None
    scheduled: RetryScheduled | None = None
    for recorded in await orch.history(view.job_id):
        event = recorded.event
        if isinstance(event, FailureClassified):
            classified = event
        elif isinstance(event, RetryScheduled) and event.next_attempt == view.attempt:
            scheduled = event
            break
    if classified is None or scheduled is None:
        return
    day = view.interval.split("T", 1)[0]
    out.write(
        f"         RETRY {day}: attempt {view.attempt} after {scheduled.delay_s:.1f} s, "
        f"{classified.classification} ({classified.rule}): {classified.reason[:80]}\n"
    )


def _summary(views: list[JobView], jobs: list[CompiledJob], out: TextIO) -> bool:
    out.write(f"\n{'job':<22} {'tries':>5}  {'state':<10} {'secs':>6}\n")
    ok = True
    for index, (view, job) in enumerate(zip(views, jobs, strict=True)):
        expected = expected_phase(index, len(jobs))
        mark = "" if view.phase == expected else f"  (expected {expected})"
        ok &= view.phase == expected
        duration = (
            f"{view.finished_at - view.accepted_at:6.2f}"
            if view.finished_at and view.accepted_at
            else "     -"
        )
        handle = f"{job.datasource}/{job.interval.split('T', 1)[0]}"
        out.write(f"{handle:<22} {view.attempt:>5}  {view.phase:<10} {duration}{mark}\n")
        if view.phase == "dead" and view.rule:
            out.write(f"{'':<22} └ {view.classification} ({view.rule}): {view.reason}\n")
            out.write(
                f"{'':<22} └ not retried: a person fixes the input, then "
                f"`druid-orch retry {handle}` runs it again\n"
            )
    return ok


def next_steps(db: str | None) -> str:
    """What to try after the demo: the same things on your own, step by step."""
    kept = db or "demo.db"
    steps = [] if db else [("druid-orch demo --only batch --db demo.db", "keep the event log")]
    steps += [
        ("druid-orch demo --ui", "the batch demo, then the web console on its jobs"),
        (f"druid-orch status --db {kept}", "the jobs, read from the log alone"),
        (f"druid-orch audit history wikipedia/2024-01-07 --db {kept}", "the dead day's story"),
        ("druid-orch sim --scenario flaky --port 8090 &", "a simulator that fails now and then"),
        ("druid-orch run --config examples/orch.toml", "the daemon, in front of it"),
    ]
    width = max(len(command) for command, _ in steps)
    lines = [f"  {command:<{width}}  {why}" for command, why in steps]
    return "\nTry next (README.md, 'Try it', walks through all of it):\n" + "\n".join(lines) + "\n"
