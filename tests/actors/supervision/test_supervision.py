"""Supervision against the simulator with fault injection: retries, alerts, breakers, restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from msgspec.structs import replace
from structlog.testing import capture_logs

from actors.job import audit
from actors.job.messages import CheckDeadlines
from actors.orchestrator import Orchestrator
from actors.stream_names import breaker_stream, job_stream
from actors.supervision.alerts import Alert, LogAlertSink, WebhookAlertSink
from actors.supervision.breakers import DatasourcePolicy
from actors.supervision.policy import BreakerPolicy, RestartPolicy
from actors.supervision.policy import RetryPolicy as Backoff
from eventlog.errors import WriterLostError
from eventlog.events import (
    ActorCrashed,
    BreakerOpened,
    CancelRequested,
    FailureClassified,
    JobAccepted,
    JobDied,
    RetryScheduled,
    SubmitIntended,
    TaskFailed,
    spec_dict,
)
from eventlog.sqlite.store import SQLiteEventLog
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import Faults, SimConfig, Simulator
from service.cli.audit import render_timeline
from tests.service.processes import eventually
from tests.support import daily_jobs, fast_config, month_start


@pytest.fixture
def sim() -> Simulator:
    return Simulator(
        SimConfig(
            cluster=ClusterConfig(
                seed=3, workers=4, capacity_per_worker=8, min_duration_s=0.2, max_duration_s=0.6
            )
        )
    )


async def stream(db: Path, job_id: str) -> list[Any]:
    async with SQLiteEventLog(db) as log:
        return [r.event for r in await log.read_stream(job_stream(job_id))]


async def test_transient_failures_are_retried_and_eventually_succeed(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    job = daily_jobs(1, month_start(2024, 5))[0]
    sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
        "transient:s3_throttle",
        "transient:lost_worker",
        "success",
    ]
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        await orch.submit(job)
        view = await orch.wait(job.job_id, timeout=20)
    assert view.phase == "succeeded"
    assert view.attempt == 3
    events = await stream(db, job.job_id)
    rules = [e.rule for e in events if isinstance(e, FailureClassified)]
    assert rules == ["object-store-throttling", "lost-worker"]
    assert sum(isinstance(e, RetryScheduled) for e in events) == 2
    # The log holds the compiled spec, and each attempt posted it under its own task id.
    [accepted] = [e for e in events if isinstance(e, JobAccepted)]
    assert spec_dict(accepted.spec) == job.spec
    # Each attempt's m was chosen at its admission (one listed input: one split, so m = 1).
    chosen = [e.sub_tasks for e in events if isinstance(e, SubmitIntended)]
    async with HttpOverlord(url) as overlord:
        for attempt, record in zip((1, 2, 3), chosen, strict=True):
            posted = await overlord.task_spec(f"{job.job_id}_{attempt}")
            assert posted["id"] == f"{job.job_id}_{attempt}"
            assert record is not None
            tuning = posted["spec"]["tuningConfig"]
            assert tuning.pop("maxNumConcurrentSubTasks") == record.m == 1
            # The Overlord fills in groupId, dataSource, resource and context defaults.
            compiled = job.spec["spec"]
            del compiled["tuningConfig"]["maxNumConcurrentSubTasks"]
            assert (posted["type"], posted["spec"]) == (job.spec["type"], compiled)


async def test_a_lost_worker_does_not_use_up_attempts_until_the_policy_says_so(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    spared, capped = (replace(job, max_attempts=2) for job in daily_jobs(2, month_start(2024, 7)))
    for job in (spared, capped):
        sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
            "transient:lost_worker",
            "transient:lost_worker",
            "transient:lost_worker",
            "success",
        ]
    base = fast_config()
    alerts = LogAlertSink()
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=base, alerts=alerts) as orch:
        await orch.submit(spared)
        view = await orch.wait(spared.job_id, timeout=20)
    # Three tasks lost with their workers, none counted: the fourth attempt of two succeeds.
    assert (view.phase, view.attempt, view.max_attempts, view.uncounted) == ("succeeded", 4, 2, 3)
    events = await stream(db, spared.job_id)
    assert [e.counted for e in events if isinstance(e, FailureClassified)] == [False] * 3
    assert alerts.sent == []
    assert "does not count against the attempts" in "\n".join(
        render_timeline(audit.timeline(db, spared.job_id))
    )

    one_spared = fast_config(job=replace(base.job, max_uncounted_failures=1))
    async with Orchestrator.open(db, url, config=one_spared, alerts=alerts) as orch:
        await orch.submit(capped)
        view = await orch.wait(capped.job_id, timeout=20)
    # Spared once; the second and third count, and two is all a job of two attempts has.
    assert (view.phase, view.attempt) == ("dead", 3)
    events = await stream(db, capped.job_id)
    assert [e.counted for e in events if isinstance(e, FailureClassified)] == [False, True, True]
    assert isinstance(events[-1], JobDied)
    assert "all 2 attempts are used" in events[-1].reason
    assert [a.job_id for a in alerts.sent] == [capped.job_id]


async def test_structural_failures_are_never_retried_and_raise_exactly_one_alert(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    bad, good = daily_jobs(2, month_start(2024, 5))
    sim.cluster.config.scripted[f"{bad.datasource}/{bad.interval}"] = [
        "structural:parse_errors",
        "success",
    ]
    alerts = LogAlertSink()
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config(), alerts=alerts) as orch:
        await orch.submit(bad)
        await orch.submit(good)
        assert (await orch.wait(bad.job_id, timeout=20)).phase == "dead"
        assert (await orch.wait(good.job_id, timeout=20)).phase == "succeeded"
        await asyncio.sleep(0.3)  # any further (wrong) retry would have started by now
    assert [a.job_id for a in alerts.sent] == [bad.job_id]
    alert = alerts.sent[0]
    assert alert.classification == "structural"
    assert alert.rule == "parse-errors"
    assert alert.task_id == f"{bad.job_id}_1"
    assert alert.report_excerpt is not None
    assert "Max parse exceptions" in str(alert.report_excerpt)
    assert sim.cluster.submissions_per_interval[(bad.datasource, bad.interval)] == 1
    events = await stream(db, bad.job_id)
    assert not any(isinstance(e, RetryScheduled) for e in events)
    assert isinstance(events[-1], JobDied)


OUTAGE_S = 10


async def test_an_outage_opens_the_breaker_bounds_requests_and_jobs_finish_after(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    sim.cluster.config.min_duration_s = 2.0
    sim.cluster.config.max_duration_s = 4.0
    # As many parallel jobs (3 slots each) as the 32 slots admit at once: all of them on the
    # Overlord when the outage starts.
    batch = daily_jobs(10, month_start(2024, 6))
    db = tmp_path / "log.db"
    # A 10 s outage with the breaker's times a third of a 30 s one's: the same story (open,
    # probes backing off to the longest wait, close) in a third of the time.
    cfg = fast_config(
        breaker=BreakerPolicy(window_s=4, min_calls=3, failure_rate=0.5, open_s=0.7, max_open_s=2.7)
    )
    async with Orchestrator.open(db, url, config=cfg) as orch:
        for job in batch:
            await orch.submit(job)
        for _ in range(200):  # until every job's task is on the Overlord
            phases = [(await orch.get(j.job_id)).phase for j in batch]
            if all(p in ("pending", "running", "waiting", "submitted") for p in phases):
                break
            await asyncio.sleep(0.05)
        before = sim.stats()["requests_total"]
        sim.set_faults(Faults(outage_s=OUTAGE_S))
        started = time.monotonic()
        await asyncio.sleep(OUTAGE_S)
        during = sim.stats()["requests_total"] - before
        outage_s = time.monotonic() - started
        assert ("overlord", "opened") in orch.breakers.transitions
        views = [await orch.wait(j.job_id, timeout=60) for j in batch]
    rate = during / outage_s
    print(f"\nOverlord requests during a {outage_s:.0f}s outage: {during} ({rate:.2f}/s)")
    # Without the breaker the poller alone would ask ~10 tasks every 0.5 s (~20/s); with it,
    # the first failures and the probes only (below 1/s in a 30 s outage, three times that
    # with the times a third).
    assert rate < 3.0, f"{during} requests in {outage_s:.0f}s"
    assert all(v.phase == "succeeded" for v in views), [v.phase for v in views]
    for job in batch:
        events = await stream(db, job.job_id)
        assert not any(isinstance(e, TaskFailed) for e in events), "a job failed from the outage"
    async with SQLiteEventLog(db) as log:
        breaker = [r.event for r in await log.read_stream(breaker_stream("overlord"))]
    assert any(isinstance(e, BreakerOpened) for e in breaker)


async def test_a_breaker_opened_by_refused_submissions_closes_once_the_overlord_is_back(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    # A leader warming up refuses submissions (503) before any task is on it: the poller has
    # nothing to ask, and there is no periodic reconciliation, so a submission must be the
    # probe that closes the breaker; otherwise the jobs wait in `submitting` for good.
    sim.set_faults(Faults(warmup_s=2))
    batch = daily_jobs(6, month_start(2024, 10))
    cfg = fast_config(breaker=BreakerPolicy(min_calls=2, failure_rate=0.5, open_s=1, max_open_s=2))
    async with Orchestrator.open(tmp_path / "log.db", url, config=cfg) as orch:
        for job in batch:
            await orch.submit(job)
        views = [await orch.wait(j.job_id, timeout=20) for j in batch]
        assert ("overlord", "opened") in orch.breakers.transitions
        assert orch.breakers.overlord_phase == "closed"
    assert [v.phase for v in views] == ["succeeded"] * len(batch)
    assert sim.stats()["duplicate_submissions"] == 0
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        breaker = [r.event for r in await log.read_stream(breaker_stream("overlord"))]
    reasons = [e.reason for e in breaker if isinstance(e, BreakerOpened)]
    # The reason names the call once ("submit: POST ... 503"), not "submit: submit: ...".
    # (The slot gate's capacity lookup, or the watermark gate's list of supervisors, refused
    # by the warming leader too, may come first.)
    assert reasons
    calls = (
        "submit: POST /druid/indexer/v1/task answered",
        "total_capacity: GET /druid/indexer/v1/totalWorkerCapacity answered",
        "supervisors: GET /druid/indexer/v1/supervisor answered",
    )
    assert all(r.startswith(calls) for r in reasons), reasons


async def test_a_cancel_during_an_outage_waits_for_the_breaker_not_a_growing_backoff(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    # A shutdown refused by the open breaker was never sent; counting it as a failed call
    # grew the actor's backoff (to submit_retry.cap_s) for every second of the outage, so
    # the cancel went out long after the Overlord was back.
    sim.cluster.config.min_duration_s = 60.0
    sim.cluster.config.max_duration_s = 60.0
    job = daily_jobs(1, month_start(2024, 11))[0]
    base = fast_config()
    cfg = fast_config(
        breaker=BreakerPolicy(min_calls=2, failure_rate=0.5, open_s=3, max_open_s=3),
        job=replace(base.job, submit_retry=Backoff(base_s=0.2, cap_s=30.0)),
    )
    async with Orchestrator.open(tmp_path / "log.db", url, config=cfg) as orch:
        await orch.submit(job)
        for _ in range(200):
            if (await orch.get(job.job_id)).phase == "running":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        sim.set_faults(Faults(outage_s=4))
        for _ in range(200):  # the poller's failures open the breaker
            if orch.breakers.overlord_phase == "open":
                break
            await asyncio.sleep(0.05)
        with capture_logs() as logged:
            await orch.cancel(job.job_id)
            view = await orch.wait(job.job_id, timeout=15)
    assert view.phase == "cancelled"
    refused = [e for e in logged if e["event"] == "shutdown_failed" and "not sent" in e["error"]]
    assert len(refused) <= 1, refused


class BuggyOverlord:
    """A client whose submit has a bug (raises a non-Overlord error), to crash the actor."""

    def __init__(self, inner: HttpOverlord) -> None:
        self.inner = inner
        self.calls = 0
        self.bugs_left = 1_000_000  # how many more submits crash before the bug is "fixed"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def submit(self, task: Mapping[str, Any]) -> str:
        self.calls += 1
        if self.bugs_left <= 0:
            return await self.inner.submit(task)
        self.bugs_left -= 1
        raise RuntimeError("bug in the submit path")


async def test_an_actor_that_crashes_repeatedly_is_escalated_after_n_restarts(
    tmp_path: Path, url: str
) -> None:
    job = daily_jobs(1, month_start(2024, 7))[0]
    alerts = LogAlertSink()
    db = tmp_path / "log.db"
    client = HttpOverlord(url, retry=RequestRetryPolicy(attempts=1))
    buggy = BuggyOverlord(client)
    cfg = fast_config(restart=RestartPolicy(max_restarts=3, within_s=60, delay_s=0.01))
    try:
        async with Orchestrator.open(db, buggy, config=cfg, alerts=alerts) as orch:  # type: ignore[arg-type]
            await orch.submit(job)
            view = await orch.wait(job.job_id, timeout=10)
            restarts = orch.supervisor_actor.restarts if orch.supervisor_actor else -1
    finally:
        await client.close()
    assert view.phase == "dead"
    assert restarts == 3
    assert buggy.calls == 4  # the first run and three restarts, then no more
    events = await stream(db, job.job_id)
    crashes = [e for e in events if isinstance(e, ActorCrashed)]
    assert [c.restarts for c in crashes] == [1, 2, 3, 4]
    assert "bug in the submit path" in crashes[-1].error
    dead = events[-1]
    assert isinstance(dead, JobDied)
    assert dead.rule == "restart-intensity"
    assert [a.job_id for a in alerts.sent] == [job.job_id]


async def test_a_job_retried_after_restart_intensity_starts_with_a_clean_crash_history(
    tmp_path: Path, url: str
) -> None:
    job = daily_jobs(1, month_start(2024, 8))[0]
    client = HttpOverlord(url, retry=RequestRetryPolicy(attempts=1))
    buggy = BuggyOverlord(client)
    cfg = fast_config(restart=RestartPolicy(max_restarts=3, within_s=60, delay_s=0.01))
    try:
        async with Orchestrator.open(tmp_path / "log.db", buggy, config=cfg) as orch:  # type: ignore[arg-type]
            await orch.submit(job)
            assert (await orch.wait(job.job_id, timeout=10)).phase == "dead"
            # The fix is half deployed: one more crash, well within the restart intensity
            # of a fresh history, but the fifth within 60 s of the old one.
            buggy.bugs_left = 1
            await orch.retry(job.job_id, reason="bug fixed")
            done = await orch.wait(job.job_id, timeout=10)
    finally:
        await client.close()
    assert done.phase == "succeeded", done


async def test_the_supervisor_records_a_crash_once_when_the_writer_dies_with_it_in_flight(
    tmp_path: Path, url: str
) -> None:
    """The answer to the supervisor's append is lost, once after the commit and once
    before: the crash is recorded exactly once each time, and the supervisor carries on."""
    job = daily_jobs(1, month_start(2024, 7))[0]
    db = tmp_path / "log.db"
    client = HttpOverlord(url, retry=RequestRetryPolicy(attempts=1))
    buggy = BuggyOverlord(client)
    cfg = fast_config(restart=RestartPolicy(max_restarts=3, within_s=60, delay_s=0.01))
    lost: list[str] = []
    try:
        async with Orchestrator.open(db, buggy, config=cfg) as orch:  # type: ignore[arg-type]
            real_append = orch.log.append

            async def losing(stream_id: str, events: Any, expected_version: int, **kw: Any) -> Any:
                if any(isinstance(e, ActorCrashed) for e in events) and len(lost) < 2:
                    if not lost:  # committed, but the answer never came back
                        await real_append(stream_id, events, expected_version, **kw)
                    lost.append(type(events[0]).__name__)
                    raise WriterLostError("the writer was killed", how="signal 9")
                return await real_append(stream_id, events, expected_version, **kw)

            orch.log.append = losing  # type: ignore[method-assign]
            await orch.submit(job)
            view = await orch.wait(job.job_id, timeout=10)
            assert orch.supervisor_actor is not None
            assert orch.supervisor_actor.ref.alive
    finally:
        await client.close()
    assert lost == ["ActorCrashed", "ActorCrashed"]
    assert view.phase == "dead"
    crashes = [e for e in await stream(db, job.job_id) if isinstance(e, ActorCrashed)]
    assert [c.restarts for c in crashes] == [1, 2, 3, 4]


async def test_an_open_breaker_survives_a_restart_of_the_orchestrator(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    cfg = fast_config(
        breaker=BreakerPolicy(min_calls=2, failure_rate=0.5, open_s=60, max_open_s=60)
    )
    sim.set_faults(Faults(outage_s=120))
    job = daily_jobs(1, month_start(2024, 8))[0]
    async with Orchestrator.open(db, url, config=cfg) as orch:
        await orch.submit(job)
        for _ in range(200):
            if orch.breakers.overlord_phase == "open":
                break
            await asyncio.sleep(0.05)
        assert orch.breakers.overlord_phase == "open"
    requests_before = sim.stats()["requests_total"]
    async with Orchestrator.open(db, url, config=cfg) as orch:
        assert orch.breakers.overlord_phase == "open"
        await asyncio.sleep(0.5)
        view = await orch.get(job.job_id)
    # No call left for the Overlord while the restored breaker was open.
    assert sim.stats()["requests_total"] == requests_before
    assert view is not None
    assert view.phase in ("accepted", "submitting")


async def test_repeated_structural_failures_pause_a_datasource_until_a_person_resumes_it(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    batch = daily_jobs(4, month_start(2024, 9))
    for job in batch[:3]:
        sim.cluster.config.scripted[f"{job.datasource}/{job.interval}"] = [
            "structural:missing_input"
        ]
    db = tmp_path / "log.db"
    cfg = fast_config(datasource_breaker=DatasourcePolicy(structural_limit=3, recheck_s=0.1))
    async with Orchestrator.open(db, url, config=cfg) as orch:
        for job in batch[:3]:
            await orch.submit(job)
        for job in batch[:3]:
            assert (await orch.wait(job.job_id, timeout=20)).phase == "dead"
        assert "wikipedia" in orch.breakers.paused
        await orch.submit(batch[3])
        await asyncio.sleep(0.5)
        assert (await orch.get(batch[3].job_id)).phase == "accepted"  # held back
        assert orch.resume_datasource("wikipedia")
        assert not orch.resume_datasource("wikipedia")  # resuming twice is harmless
        assert (await orch.wait(batch[3].job_id, timeout=20)).phase == "succeeded"


def an_alert(**overrides: Any) -> Alert:
    fields: dict[str, Any] = {
        "job_id": "j",
        "datasource": "d",
        "interval": "i",
        "task_id": "t",
        "classification": "structural",
        "rule": "r",
        "reason": "bad rows",
        "report_excerpt": {},
        "at": 1.0,
    }
    return Alert(**{**fields, **overrides})


async def test_the_webhook_alert_sink_retries_until_the_receiver_accepts() -> None:
    received: list[dict[str, Any]] = []
    answers = iter([500, 503, 200])

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=next(answers))

    app = web.Application()
    app.router.add_post("/alerts", hook)
    server = TestServer(app)
    await server.start_server()
    sink = WebhookAlertSink(str(server.make_url("/alerts")), attempts=4, base_s=0.01, cap_s=0.02)
    try:
        sink.raise_alert(an_alert(rule="parse-errors", report_excerpt={"unparseable": 3}))
        await sink.aclose()
    finally:
        await server.close()
    assert len(received) == 3
    assert received[-1]["rule"] == "parse-errors"
    assert received[-1]["report_excerpt"] == {"unparseable": 3}
    assert sink.delivered == 1


async def test_a_webhook_that_keeps_failing_is_logged_without_its_secret_path() -> None:
    from structlog.testing import capture_logs

    server = TestServer(web.Application())  # every POST answers 404
    await server.start_server()
    secret = "T0/B0/xoxb-0123456789"
    origin = str(server.make_url("")).rstrip("/")
    sink = WebhookAlertSink(f"{origin}/hooks/{secret}", attempts=2, base_s=0.01)
    try:
        with capture_logs() as logged:
            sink.raise_alert(an_alert())
            await sink.aclose()
    finally:
        await server.close()
    failures = [e for e in logged if e["event"] == "alert_webhook_failed"]
    assert len(failures) == 1
    assert failures[0]["url"] == f"{origin}/***"
    assert secret not in repr(logged)


async def test_jobs_finish_without_duplicates_when_the_event_log_writer_is_killed(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    """The log replaces a lost writer; actors whose appends were lost crash, are restarted
    from their streams and carry on, so no job is lost and none is submitted twice."""
    jobs = daily_jobs(20, month_start(2024, 9))
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        for job in jobs:
            await orch.submit(job)
        for restarts in (1, 2):
            pid = orch.log.writer_pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)  # appends pile up unanswered...
            await asyncio.sleep(0.3)
            os.kill(pid, signal.SIGKILL)  # ...and are lost with the writer
            # On a busy machine the successor takes a while to start; until it has, the
            # pid is the lost writer's.
            await eventually(lambda n=restarts: orch.log.stats.writer_restarts == n)
        views = [await orch.wait(job.job_id, timeout=60) for job in jobs]
        assert orch.log.stats.writer_restarts == 2
        assert orch.supervisor_actor is not None
        assert orch.supervisor_actor.restarts > 0, "no actor lost an append: nothing was tested"
    assert [view.phase for view in views] == ["succeeded"] * len(jobs)
    stats = sim.stats()
    assert stats["duplicate_submissions"] == 0
    assert stats["max_live_tasks_per_interval"] == 1


class _Poison:
    """A message that crashes a job's actor once `gate` opens (a bug in some handler)."""


async def test_a_cancel_queued_behind_a_crash_is_carried_out_by_the_restarted_actor(
    tmp_path: Path, url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors.job.actor import JobActor
    from actors.supervision.supervisor import StartJob

    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 120
    gate, poisoned = asyncio.Event(), asyncio.Event()
    real = JobActor.receive

    async def receive(self: JobActor, message: Any) -> Any:
        if isinstance(message, _Poison):
            poisoned.set()
            await gate.wait()
            raise RuntimeError("a handler's bug")
        return await real(self, message)

    monkeypatch.setattr(JobActor, "receive", receive)
    job = daily_jobs(1, month_start(2024, 10))[0]
    async with Orchestrator.open(tmp_path / "log.db", url, config=fast_config()) as orch:
        await orch.submit(job)
        for _ in range(400):
            if (await orch.get(job.job_id)).phase in ("pending", "running"):
                break
            await asyncio.sleep(0.025)
        assert orch.supervisor is not None
        ref = await orch.supervisor.ask(StartJob(job.job_id), timeout=None)
        ref.tell(_Poison())  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(poisoned.wait(), timeout=10)
            cancelling = asyncio.create_task(orch.cancel(job.job_id))
            for _ in range(400):  # the cancel's ask waits in the mailbox behind the poison
                if len(ref._mailbox) == 1:
                    break
                await asyncio.sleep(0.005)
            assert len(ref._mailbox) == 1
        finally:
            gate.set()  # the actor crashes; the cancel it never handled must not be lost
        view = await asyncio.wait_for(cancelling, timeout=20)
        assert view.phase in ("cancelling", "cancelled"), view.phase
        assert (await orch.wait(job.job_id, timeout=20)).phase == "cancelled"


async def test_a_crash_quoting_a_url_with_a_password_is_recorded_without_it(
    tmp_path: Path, url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actors.job.actor import JobActor
    from actors.supervision.supervisor import StartJob

    secret = "hunter2-never-recorded"
    real = JobActor.receive

    async def receive(self: JobActor, message: Any) -> Any:
        if isinstance(message, _Poison):
            raise RuntimeError(f"cannot reach http://admin:{secret}@overlord:8081/druid")
        return await real(self, message)

    monkeypatch.setattr(JobActor, "receive", receive)
    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 120
    job = daily_jobs(1, month_start(2024, 11))[0]
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=fast_config()) as orch:
        await orch.submit(job)
        assert orch.supervisor is not None
        ref = await orch.supervisor.ask(StartJob(job.job_id), timeout=None)
        ref.tell(_Poison())  # type: ignore[arg-type]
        for _ in range(200):
            events = [r.event for r in await orch.history(job.job_id)]
            if any(isinstance(e, ActorCrashed) for e in events):
                break
            await asyncio.sleep(0.02)
    crashed = [e for e in events if isinstance(e, ActorCrashed)]
    assert crashed, "the crash was not recorded"
    assert "http://***@overlord:8081/druid" in crashed[0].error
    for part in (db, Path(f"{db}-wal")):  # wherever SQLite left the bytes
        if part.exists():
            assert secret.encode() not in await asyncio.to_thread(part.read_bytes)


async def test_a_cancel_is_recorded_even_when_every_run_of_the_actor_crashes(
    tmp_path: Path, url: str, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each fresh actor would crash on its first piece of work; the cancel must be taken
    # before that work, or cancelling could only ever end in an escalation.
    from actors.job.actor import JobActor
    from actors.supervision.supervisor import StartJob

    sim.cluster.config.min_duration_s = sim.cluster.config.max_duration_s = 120
    job = daily_jobs(1, month_start(2024, 12))[0]
    config = fast_config(restart=RestartPolicy(max_restarts=3, within_s=60, delay_s=5))
    async with Orchestrator.open(tmp_path / "log.db", url, config=config) as orch:
        await orch.submit(job)
        for _ in range(400):
            if (await orch.get(job.job_id)).phase in ("pending", "running"):
                break
            await asyncio.sleep(0.025)

        async def broken(self: JobActor) -> None:
            raise RuntimeError("every piece of work crashes now")

        monkeypatch.setattr(JobActor, "_run_effects", broken)
        assert orch.supervisor is not None
        ref = await orch.supervisor.ask(StartJob(job.job_id), timeout=None)
        ref.tell(CheckDeadlines(at=0.0))  # type: ignore[arg-type]  # crashes it
        view = await asyncio.wait_for(orch.cancel(job.job_id), timeout=20)
        events = [r.event for r in await orch.history(job.job_id)]
    assert view.phase == "cancelling", view.phase
    assert any(isinstance(e, CancelRequested) for e in events)
    assert not any(isinstance(e, JobDied) for e in events), "escalated instead of cancelled"
