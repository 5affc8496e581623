"""Batch jobs beside a live stream, end to end: the orchestrator against the simulator.

A Kafka supervisor writes `wikipedia` (the built-in pipeline's datasource) with a one-hour
late-message window, so its task takes no row before `minimumMessageTime` = its creation - 1h.
The simulator's wall clock is injected and starts at 2024-01-05T10:30Z: the watermark is then
2024-01-05T09:30Z, 2024-01-05 once aligned to the jobs' DAY segments. Moving the clock and
ending the streaming tasks (as their taskDuration would) moves the watermark on.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from actors.job.messages import Accept, BeginAttempt
from actors.job.stream import JobStreams
from actors.orchestrator import Orchestrator
from actors.supervision.watermark_gate import WatermarkPolicy
from eventlog.events import (
    JobAccepted,
    SubmitDeferred,
    SubmitIntended,
    Submitted,
    WatermarkRecord,
    spec_raw,
)
from eventlog.sqlite.store import SQLiteEventLog
from overlord.client import HttpOverlord
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from service.cli.output import jobs_table
from service.metrics import Metrics
from specs.compiler import CompiledJob, builtin_template, compile_job, task_id_for
from specs.intervals import Interval
from tests.contract.support import until
from tests.support import fast_config

W0 = datetime(2024, 1, 5, 10, 30, tzinfo=UTC).timestamp()
HOUR = 3600.0
DS = "wikipedia"
HELD = "waiting for the streaming watermark (now 2024-01-05T09:30Z) to pass 2024-01-06T00:00Z"
QUICK = fast_config(watermark=WatermarkPolicy(cache_s=0.05, recheck_s=0.1, post_check_s=0.01))


class Clock:
    def __init__(self) -> None:
        self.now = W0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Simulator:
    config = ClusterConfig(
        seed=7, lock_delay_s=0, stream_late_data=True, min_duration_s=0.2, max_duration_s=0.4
    )
    return Simulator(SimConfig(cluster=config), wall=clock)


@pytest.fixture
async def client(url: str) -> AsyncIterator[HttpOverlord]:
    overlord = HttpOverlord(url)
    try:
        yield overlord
    finally:
        await overlord.close()


def kafka(supervisor_id: str, period: str) -> dict[str, Any]:
    return {
        "type": "kafka",
        "id": supervisor_id,
        "spec": {
            "dataSchema": {
                "dataSource": DS,
                "timestampSpec": {"column": "ts"},
                "dimensionsSpec": {"dimensions": []},
                "granularitySpec": {"segmentGranularity": "HOUR"},
            },
            "ioConfig": {
                "topic": supervisor_id,
                "taskDuration": "PT1H",
                "lateMessageRejectionPeriod": period,
                "consumerProperties": {"bootstrap.servers": "k:9092"},
            },
            "tuningConfig": {"type": "kafka"},
        },
    }


def live(sim: Simulator, supervisor_id: str = DS) -> set[str]:
    sup = sim.supervisors.supervisors.get(supervisor_id)
    return set() if sup is None else {t.id for t in sim.supervisors.live_tasks(sup)}


async def stream(
    client: HttpOverlord, sim: Simulator, supervisor_id: str = DS, period: str = "PT1H"
) -> None:
    await client.create_supervisor(kafka(supervisor_id, period))
    await until(lambda: bool(live(sim, supervisor_id)))


async def roll_over(sim: Simulator, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    old = live(sim)
    for task_id in old:
        sim.cluster.outcomes.finish(task_id)
    await until(lambda: bool(live(sim)) and not old & live(sim))


def job(start: int, end: int) -> CompiledJob:
    days = Interval.parse(f"2024-01-{start:02d}/2024-01-{end:02d}")
    return compile_job(builtin_template(), days)


def posted_interval(sim: Simulator, job_id: str, attempt: int = 1) -> str:
    [span] = sim.cluster.tasks[task_id_for(job_id, attempt)].intervals
    return span[2]


async def intents(orch: Orchestrator, job_id: str) -> list[SubmitIntended]:
    return [r.event for r in await orch.history(job_id) if isinstance(r.event, SubmitIntended)]


async def test_batch_jobs_beside_a_live_stream_end_at_its_watermark_and_never_overlap_it(
    tmp_path: Path, sim: Simulator, client: HttpOverlord, clock: Clock, url: str
) -> None:
    await stream(client, sim)
    before, straddling, after = job(3, 4), job(4, 7), job(5, 6)
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUICK) as orch:
        for each in (before, straddling, after):
            await orch.submit(each)
        for each in (before, straddling):
            assert (await orch.wait(each.job_id, timeout=20)).phase == "succeeded"
        view = await orch.get(after.job_id)
        assert view is not None
        assert (view.phase, view.held) == ("accepted", HELD)
        assert after.job_id not in orch.slots.claims, "a job the watermark holds claims no slots"
        metrics = Metrics()
        metrics.bind(orch)
        assert "druid_orch_jobs_waiting_for_watermark 1.0" in metrics.render().decode()
        assert posted_interval(sim, before.job_id) == before.interval
        clipped = "2024-01-04T00:00:00.000Z/2024-01-05T00:00:00.000Z"
        assert posted_interval(sim, straddling.job_id) == clipped
        [intent] = await intents(orch, straddling.job_id)
        assert intent.interval == clipped
        shown = await orch.get(straddling.job_id)
        assert shown is not None
        assert shown.sent_interval == clipped  # what `status` prints as `clipped ...`
        table = io.StringIO()
        jobs_table([shown], table, columns=200)
        assert "clipped at the streaming watermark: sent 2024-01-04" in table.getvalue()
        assert intent.watermark == WatermarkRecord(
            at="2024-01-05T09:30:00.000Z",
            aligned="2024-01-05T00:00:00.000Z",
            source="task-minimum-message-time",
            detail="earliest minimumMessageTime of 1 streaming task(s)",
            supervisors=(DS,),
        )
        assert sim.stats()["batch_stream_overlaps"] == 0
        assert task_id_for(after.job_id, 1) not in sim.cluster.tasks

        await roll_over(sim, clock, 15 * HOUR)  # new task: minimumMessageTime 2024-01-06T00:30
        assert (await orch.wait(after.job_id, timeout=20)).phase == "succeeded"
        [late] = await intents(orch, after.job_id)
        assert late.interval is None
        assert late.watermark is not None
        assert late.watermark.at == "2024-01-06T00:30:00.000Z"
        assert posted_interval(sim, after.job_id) == after.interval
        assert all(v.held is None for v in orch.jobs())
        assert "druid_orch_jobs_waiting_for_watermark 0.0" in metrics.render().decode()
    stats = sim.stats()
    assert stats["batch_stream_overlaps"] == 0, stats["batch_stream_overlap_tasks"]
    assert stats["duplicate_submissions"] == 0


async def record_intent(db: Path, compiled: CompiledJob, interval: str) -> None:
    """What a crash right after the intent leaves: the intent recorded, nothing POSTed."""
    log = await SQLiteEventLog.open(db, writer="thread")
    try:
        streams = JobStreams(log)
        accept = Accept(
            at=1.0,
            job_id=compiled.job_id,
            datasource=compiled.datasource,
            interval=compiled.interval,
            spec=compiled.spec_json,
            spec_hash=compiled.spec_hash,
            max_attempts=compiled.max_attempts,
            pipeline=compiled.pipeline,
        )
        await streams.record(compiled.job_id, accept)
        mark = WatermarkRecord(
            at="2024-01-05T09:30:00.000Z",
            aligned="2024-01-05T00:00:00.000Z",
            source="task-minimum-message-time",
            detail="earliest minimumMessageTime of 1 streaming task(s)",
            supervisors=(DS,),
        )
        await streams.record(
            compiled.job_id, BeginAttempt(at=2.0, interval=interval, watermark=mark)
        )
    finally:
        await log.close()


async def test_a_repost_after_a_crash_sends_the_recorded_interval_not_a_fresh_one(
    tmp_path: Path, sim: Simulator, client: HttpOverlord, clock: Clock, url: str
) -> None:
    await stream(client, sim)
    straddling = job(4, 7)
    recorded = "2024-01-04T00:00:00.000Z/2024-01-05T00:00:00.000Z"
    await record_intent(tmp_path / "log.db", straddling, recorded)
    await roll_over(sim, clock, 15 * HOUR)  # a fresh decision would now clip at 2024-01-06
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUICK) as orch:
        assert (await orch.wait(straddling.job_id, timeout=20)).phase == "succeeded"
        assert [i.interval for i in await intents(orch, straddling.job_id)] == [recorded]
    assert posted_interval(sim, straddling.job_id) == recorded
    assert sim.stats()["batch_stream_overlaps"] == 0


async def test_a_watermark_that_moved_back_before_the_post_defers_the_same_task(
    tmp_path: Path, sim: Simulator, client: HttpOverlord, url: str
) -> None:
    await stream(client, sim)
    straddling = job(4, 7)
    recorded = "2024-01-04T00:00:00.000Z/2024-01-05T00:00:00.000Z"
    await record_intent(tmp_path / "log.db", straddling, recorded)
    # A second stream into the datasource still takes rows two days old.
    await stream(client, sim, "wikipedia-late", period="P2D")
    task_id = task_id_for(straddling.job_id, 1)
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUICK) as orch:
        jid = straddling.job_id
        await until(
            lambda: jid in orch.states and orch.states[jid].last_error is not None, timeout_s=20
        )
        history = [r.event for r in await orch.history(straddling.job_id)]
        [first] = [e for e in history if isinstance(e, SubmitDeferred)][:1]
        assert first.task_id == task_id
        assert first.error == (
            "the streaming watermark moved back to 2024-01-03T10:30Z (aligned "
            f"2024-01-03T00:00Z): interval {recorded} is no longer wholly before it"
        )
        view = await orch.get(straddling.job_id)
        assert view is not None
        assert view.phase == "submitting"
        assert view.held is not None
        assert "the streaming watermark moved back" in view.held
        assert task_id not in sim.cluster.tasks, "nothing was POSTed"

        await client.terminate_supervisor("wikipedia-late")
        # Once the shared list drops it (its age is 5 s), the same task id goes out.
        assert (await orch.wait(straddling.job_id, timeout=30)).phase == "succeeded"
        history = [r.event for r in await orch.history(straddling.job_id)]
        submitted = [e for e in history if isinstance(e, Submitted)]
        assert [e.task_id for e in submitted] == [task_id]
        assert len([e for e in history if isinstance(e, SubmitIntended)]) == 1
    assert posted_interval(sim, straddling.job_id) == recorded
    assert sim.stats()["batch_stream_overlaps"] == 0


async def test_a_job_whose_streams_cannot_be_listed_waits_before_its_intent_and_says_why(
    tmp_path: Path,
) -> None:
    server = TestServer(web.Application())  # not an Overlord: 404 to every request
    await server.start_server()
    compiled = job(3, 4)
    try:
        url = str(server.make_url("")).rstrip("/")
        async with Orchestrator.open(tmp_path / "log.db", url, config=QUICK) as orch:
            await orch.submit(compiled)
            jid = compiled.job_id
            await until(lambda: orch.watermark is not None and jid in orch.watermark.held)
            view = await orch.get(jid)
            history = [r.event for r in await orch.history(jid)]
    finally:
        await server.close()
    assert view is not None
    assert view.phase == "accepted"
    assert view.held is not None
    assert view.held.startswith(
        "no safe streaming watermark for wikipedia: the Overlord's supervisors could not be "
        "listed (supervisors: GET /druid/indexer/v1/supervisor answered HTTP 404"
    )
    assert not any(isinstance(e, SubmitIntended) for e in history), "nothing on a guess"


def compaction(interval: str, granularity: str | None) -> CompiledJob:
    task: dict[str, Any] = {
        "type": "compact",
        "dataSource": DS,
        "ioConfig": {"type": "compact", "inputSpec": {"type": "interval", "interval": interval}},
    }
    if granularity is not None:
        task["granularitySpec"] = {"segmentGranularity": granularity}
    digest = f"{granularity or 'none'}abcdef"
    return CompiledJob(
        job_id=f"orch_compact_{DS}_{granularity or 'kept'}_{digest}",
        datasource=DS,
        interval=interval,
        spec_json=spec_raw(task),
        spec_hash=digest,
        max_attempts=3,
        pipeline="compact",
    )


async def test_a_compaction_is_clipped_at_its_own_granularity_or_waits_when_it_keeps_the_old_one(
    tmp_path: Path, sim: Simulator, client: HttpOverlord, url: str
) -> None:
    await stream(client, sim)
    interval = "2024-01-05T00:00:00.000Z/2024-01-05T12:00:00.000Z"
    hourly, kept = compaction(interval, "HOUR"), compaction(interval, None)
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUICK) as orch:
        await orch.submit(hourly)
        await orch.submit(kept)
        assert (await orch.wait(hourly.job_id, timeout=20)).phase == "succeeded"
        view = await orch.get(kept.job_id)
        assert view is not None
        assert view.held == (
            "waiting for the streaming watermark (now 2024-01-05T09:30Z) to pass 2024-01-05T12:00Z"
        )
    # The watermark 09:30, aligned down to the compaction's HOUR segments.
    assert (
        posted_interval(sim, hourly.job_id) == "2024-01-05T00:00:00.000Z/2024-01-05T09:00:00.000Z"
    )
    assert task_id_for(kept.job_id, 1) not in sim.cluster.tasks
    assert sim.stats()["batch_stream_overlaps"] == 0


async def test_a_job_also_stays_behind_the_supervisor_its_watermark_from_names(
    tmp_path: Path, sim: Simulator, client: HttpOverlord, url: str
) -> None:
    await stream(client, sim)
    # `views` writes another datasource, but still takes rows two days old.
    views = kafka("views", "P2D")
    views["spec"]["dataSchema"]["dataSource"] = "views"
    await client.create_supervisor(views)
    await until(lambda: bool(live(sim, "views")))
    plain, named = job(3, 4), msgspec.structs.replace(job(3, 4), watermark_from="views")
    named = msgspec.structs.replace(named, job_id=named.job_id + "_views")
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUICK) as orch:
        await orch.submit(plain)
        await orch.submit(named)
        assert (await orch.wait(plain.job_id, timeout=20)).phase == "succeeded"
        view = await orch.get(named.job_id)
        assert view is not None
        assert view.held == (
            "waiting for the streaming watermark (now 2024-01-03T10:30Z) to pass 2024-01-04T00:00Z"
        )
        [accepted, *_] = [r.event for r in await orch.history(named.job_id)]
        assert isinstance(accepted, JobAccepted)
        assert accepted.watermark_from == "views"
        assert orch.states[named.job_id].watermark_from == "views"
