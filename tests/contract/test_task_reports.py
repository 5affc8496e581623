"""Task reports as the orchestrator reads them: none before a task runs, a live report while
it runs, and completion reports in the sequential and parallel shapes, for success and
failure (parallel failures say COMPLETED; the cause is in the log)."""

from __future__ import annotations

from overlord.sim.server import SimConfig

from .conftest import MakeTarget, fast_cluster
from .support import eventually
from .test_cluster_endpoints import batch

BAD_DAY = "2024-03-05T00:00:00.000Z/2024-03-06T00:00:00.000Z"


async def test_a_successful_sequential_task_reports_both_phases_and_its_context(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    client = target.client()
    task_id = await client.submit(batch("sequential_ok"))
    await eventually(lambda: client.status(task_id), lambda s: s.status_code == "SUCCESS")
    reports = await client.task_reports(task_id)
    assert reports is not None
    assert reports.ingestion is not None
    payload = reports.ingestion.payload
    assert payload.ingestion_state == "COMPLETED"
    assert payload.error_msg is None
    assert set(payload.phase_totals()) == {"determinePartitions", "buildSegments"}
    assert reports.context is not None
    assert reports.context.payload["forceTimeChunkLock"] is True
    plain = await client.reports(task_id)
    assert plain is not None
    assert plain["ingestionStatsAndErrors"]["taskId"] == task_id


async def test_a_failed_sequential_task_has_its_full_trace_in_the_report_and_cut_in_status(
    make_target: MakeTarget,
) -> None:
    cluster = fast_cluster(scripted={f"wikipedia/{BAD_DAY}": ["structural:parse_errors"]})
    target = await make_target(SimConfig(cluster=cluster))
    client = target.client()
    task_id = await client.submit(batch("sequential_bad", BAD_DAY, maxSavedParseExceptions=5))
    status = await eventually(lambda: client.status(task_id), lambda s: s.status_code == "FAILED")
    reports = await client.task_reports(task_id)
    assert reports is not None
    assert reports.ingestion is not None
    payload = reports.ingestion.payload
    assert payload.ingestion_state == "BUILD_SEGMENTS"
    assert payload.error_msg is not None
    assert payload.error_msg.startswith("org.apache.druid.java.util.common.RE: Max parse")
    assert "\tat " in payload.error_msg
    assert len(payload.error_msg) > 1024
    assert status.error_msg is not None
    assert len(status.error_msg) < len(payload.error_msg)
    assert " characters omitted..." in status.error_msg
    assert payload.phase_totals()["buildSegments"].unparseable == 12
    saved = payload.unparseable_events["buildSegments"]
    assert len(saved) == 5
    assert saved[0].time_of_exception_millis is not None
    assert saved[0].time_of_exception_millis >= (saved[-1].time_of_exception_millis or 0)


async def test_a_failed_parallel_task_reports_completed_and_only_the_log_names_the_cause(
    make_target: MakeTarget,
) -> None:
    cluster = fast_cluster(scripted={f"wikipedia/{BAD_DAY}": ["transient:s3_throttle"]})
    target = await make_target(SimConfig(cluster=cluster))
    client = target.client()
    task_id = await client.submit(batch("parallel_bad", BAD_DAY, maxNumConcurrentSubTasks=4))
    status = await eventually(lambda: client.status(task_id), lambda s: s.status_code == "FAILED")
    assert status.error_msg == "Failed in phase[segment generation]. See task logs for details."
    reports = await client.task_reports(task_id)
    assert reports is not None
    assert reports.ingestion is not None
    payload = reports.ingestion.payload
    assert payload.ingestion_state == "COMPLETED"
    assert payload.error_msg == status.error_msg
    assert set(payload.row_stats) == {"totals"}
    log = await client.log(task_id, -2000)
    assert log is not None
    assert "SlowDown" in log


async def test_before_running_there_is_no_report_and_while_running_a_live_one(
    make_target: MakeTarget,
) -> None:
    cluster = fast_cluster(workers=1, capacity_per_worker=1, min_duration_s=30, max_duration_s=30)
    target = await make_target(SimConfig(cluster=cluster))
    client = target.client()
    running = await client.submit(batch("runs_first"))
    queued = await client.submit(
        batch("queued_behind", "2024-04-01T00:00:00.000Z/2024-04-02T00:00:00.000Z")
    )
    await eventually(lambda: client.status(running), lambda s: s.runner_status_code == "RUNNING")
    await eventually(lambda: client.status(queued), lambda s: s.runner_status_code == "PENDING")
    assert await client.reports(queued) is None
    assert await client.log(queued) is None
    live = await client.task_reports(running)
    assert live is not None
    assert live.ingestion is not None
    assert live.ingestion.payload.ingestion_state == "BUILD_SEGMENTS"
    assert "movingAverages" in live.ingestion.payload.row_stats
    assert live.context is None
