"""The hybrid half of `druid-orch demo`: a live stream and a batch backfill on one datasource.

A Kafka supervisor streams the last days of January into `clicks` (the simulator's stream runs
four event hours per wall second); a month of daily backfill jobs from the same template runs
up to the streaming watermark and waits there, each held job saying so, then picks up the
remaining days as the stream hands them off; each day's compaction follows its backfill
through the same gate. A second supervisor, `views`, loses its Kafka offsets (out of range):
the orchestrator reports it as a structural problem and does not reset it.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from actors.job.view import JobView
from actors.orchestrator import Orchestrator
from actors.settings import OrchestratorConfig
from actors.streams.health import StreamsConfig
from actors.supervision.watermark_gate import WatermarkPolicy
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import Faults, SimConfig, Simulator, serve
from service.demo import PrintedAlerts
from specs.compaction import compile_compaction
from specs.compiler import CompiledJob, compile_range, load_template
from specs.intervals import Interval
from specs.supervisors import compile_supervisor, supervisor_from_spec
from specs.template import PipelineTemplate

MONTH = Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
# The stream's newest record when its supervisor starts: the month's last days are live.
STREAM_START = "2024-01-29T12:00:00Z"

TEMPLATE = """
[pipeline]
name = "clicks-hybrid"
datasource = "clicks"
chunk = "DAY"
segment_granularity = "DAY"
query_granularity = "MINUTE"
rollup = true
max_attempts = 5
max_sub_tasks = 1
timestamp_column = "ts"
timestamp_format = "iso"
dimensions = ["page", "country"]
metrics = [{ type = "count", name = "clicks" }]

[pipeline.input]
type = "http"
uris = ["https://data.example.com/clicks/{date}.json.gz"]

[pipeline.format]
type = "json"

[pipeline.stream]
type = "kafka"
topic = "clicks"
task_duration = "PT1H"
late_message_rejection_period = "PT2H"

[pipeline.stream.consumer_properties]
"bootstrap.servers" = "kafka-1:9092"

[pipeline.compaction]
max_rows_per_segment = 5000000
max_sub_tasks = 1
"""


def hybrid_template() -> PipelineTemplate:
    return load_template("clicks-hybrid.toml", text=TEMPLATE)


def hybrid_simulator(seed: int) -> Simulator:
    cluster = ClusterConfig(
        seed=seed,
        workers=2,
        capacity_per_worker=6,
        min_duration_s=0.2,
        max_duration_s=0.6,
        stream_event_start=STREAM_START,
        stream_event_rate=4 * 3600.0,
        stream_lag_s=600.0,
        stream_late_data=True,
        stream_task_duration_s=1.0,
    )
    faults = Faults(offsets_out_of_range_supervisors=["views"])
    return Simulator(SimConfig(cluster=cluster, faults=faults))


def hybrid_config(base: OrchestratorConfig) -> OrchestratorConfig:
    return OrchestratorConfig(
        poller=base.poller,
        job=base.job,
        watermark=WatermarkPolicy(cache_s=0.5, recheck_s=0.5, post_check_s=0.5),
        streams=StreamsConfig(health_interval_s=0.5, lag_interval_s=2.0),
    )


def views_spec() -> dict[str, object]:
    return {
        "type": "kafka",
        "id": "views",
        "spec": {
            "dataSchema": {
                "dataSource": "views",
                "timestampSpec": {"column": "ts", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["page"]},
                "granularitySpec": {"segmentGranularity": "HOUR", "queryGranularity": "NONE"},
            },
            "ioConfig": {
                "topic": "views",
                "inputFormat": {"type": "json"},
                "consumerProperties": {"bootstrap.servers": "kafka-1:9092"},
            },
            "tuningConfig": {"type": "kafka"},
        },
    }


async def run_hybrid_demo(
    base: OrchestratorConfig,
    *,
    seed: int = 7,
    db: str | None = None,
    out: TextIO = sys.stdout,
    timeout_s: float = 60.0,
) -> int:
    template = hybrid_template()
    backfill = compile_range(template, MONTH)
    compaction = {job.interval: job for job in compile_compaction(template, MONTH)}
    sim = hybrid_simulator(seed)
    runner = await serve(sim, "127.0.0.1", 0)
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="druid-orch-hybrid-")
        db = str(Path(tmp.name) / "hybrid.db")
    out.write(
        f"\ndruid-orch demo, batch and streaming: supervisor clicks streams from {STREAM_START}; "
        f"{len(backfill)} daily backfill jobs for {MONTH.start.date()}/{MONTH.end.date()} "
        "wait for its watermark\n"
    )
    started = time.monotonic()
    alerts = PrintedAlerts(out)
    try:
        async with Orchestrator.open(db, url, config=hybrid_config(base), alerts=alerts) as orch:
            await orch.apply_supervisor(compile_supervisor(template).spec)
            await orch.apply_supervisor(supervisor_from_spec(views_spec()).spec)
            for job in backfill:
                await orch.submit(job)
            held, compacted = await _follow(orch, backfill, compaction, out, started, timeout_s)
            supervisors = await orch.supervisors()
        stats = sim.stats()
    finally:
        await runner.cleanup()
        if tmp is not None:
            tmp.cleanup()
    for reason in sorted(held)[:3]:
        out.write(f"  held: {reason}\n")
    for view in supervisors:
        health = f", {view.health} ({view.health_rule})" if view.health else ""
        out.write(f"supervisor {view.supervisor_id}: {view.detailed_state or view.state}{health}\n")
    out.write(
        f"batch or compaction tasks that overlapped the stream: {stats['batch_stream_overlaps']}; "
        f"supervisor restarts: {stats['supervisor_restarts']}; "
        f"duplicate submissions: {stats['duplicate_submissions']}\n"
    )
    ok = (
        held != set()
        and compacted == len(compaction)
        and stats["batch_stream_overlaps"] == 0
        and stats["duplicate_submissions"] == 0
        and any(a.job_id == "supervisor:views" for a in alerts.sent)
    )
    out.write("hybrid: every day ingested behind the watermark\n" if ok else "hybrid: UNEXPECTED\n")
    return 0 if ok else 1


async def _follow(
    orch: Orchestrator,
    backfill: list[CompiledJob],
    compaction: dict[str, CompiledJob],
    out: TextIO,
    started: float,
    timeout_s: float,
) -> tuple[set[str], int]:
    """Print progress until every compaction succeeded; compaction of a day is submitted once
    its backfill succeeded. Returns the hold reasons seen and the compactions done."""
    held: set[str] = set()
    submitted: set[str] = set()
    deadline = started + timeout_s
    shown, shown_at = "", 0.0
    while True:
        views = [v for v in [await orch.get(j.job_id) for j in backfill] if v is not None]
        for view in views:
            if view.held and "streaming watermark" in view.held:
                held.add(view.held)
            if view.phase == "succeeded" and view.interval not in submitted:
                submitted.add(view.interval)
                await orch.submit(compaction[view.interval])
        compactions = [await orch.get(j.job_id, missing_ok=True) for j in compaction.values()]
        done = sum(1 for c in compactions if c is not None and c.phase == "succeeded")
        line = _line(views, done, len(compaction))
        finished = done == len(compaction) or time.monotonic() > deadline
        # A line when the counts change (or every few seconds while a hold lasts).
        if line != shown or time.monotonic() - shown_at > 3.0 or finished:
            shown, shown_at = line, time.monotonic()
            out.write(f"[{shown_at - started:5.1f}s] {line} · watermark {await _watermark(orch)}\n")
            out.flush()
        if finished:
            return held, done
        await asyncio.sleep(0.5)


def _line(views: list[JobView], compacted: int, total: int) -> str:
    counts = Counter("held" if v.held else v.phase for v in views)
    parts = " ".join(f"{phase} {n}" for phase, n in sorted(counts.items()))
    return f"backfill: {parts} · compaction: {compacted}/{total} succeeded"


async def _watermark(orch: Orchestrator) -> str:
    if orch.watermark is None:  # the gate is turned off
        return "not watched"
    reading = await orch.watermark.reading("clicks", "clicks", 0.5)
    if reading is None or isinstance(reading, str):
        return "unknown"
    shown = reading.at - timedelta(microseconds=reading.at.microsecond)
    return shown.strftime("%Y-%m-%dT%H:%MZ")
