"""What simulated tasks say when they end: status messages, reports and log lines.

Each failure kind reproduces how Druid reports that failure (REFERENCE.md §3.3, §5): which
`errorMsg` the status carries, whether a completion report exists and what it says, and what
the task log holds, which is often the only place the real cause appears. Reports come in the
three completion shapes Druid writes: sequential (`index`, or `index_parallel` with one
sub-task), parallel (`{"totals": {...}}`, and `ingestionState: COMPLETED` even on failure),
and streaming (`index_kafka` / `index_kinesis`).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Outcome = Literal["success", "transient", "structural"]
ReportMode = Literal["sequential", "parallel", "streaming"]

PHASE_FAILURE = "Failed in phase[segment generation]. See task logs for details."
SHUTDOWN_MESSAGE = "Shutdown request from user"


class FailureKind(msgspec.Struct, frozen=True):
    name: str
    outcome: Outcome
    status_error: str  # the exception line; index tasks put its whole stack in errorMsg
    log_line: str  # the line in the task log that names the cause
    has_report: bool = True
    ingestion_state: str = "BUILD_SEGMENTS"
    unparseable: int = 0
    stack: bool = True  # errorMsg is a Java stack trace (else a fixed Overlord message)
    before_running: bool = False  # fails in the readiness check, from WAITING


FAILURE_KINDS: dict[str, FailureKind] = {
    kind.name: kind
    for kind in (
        FailureKind(
            name="s3_throttle",
            outcome="transient",
            status_error="java.lang.RuntimeException: com.amazonaws.services.s3.model."
            "AmazonS3Exception: Slow Down (Service: Amazon S3; Status Code: 503; "
            "Error Code: SlowDown)",
            log_line="com.amazonaws.services.s3.model.AmazonS3Exception: Slow Down "
            "(Service: Amazon S3; Status Code: 503; Error Code: SlowDown; Request ID: 5T3R)",
        ),
        FailureKind(
            name="lost_worker",
            outcome="transient",
            status_error="The worker that this task was assigned disappeared and did not "
            "report cleanup within timeout[PT15M]. See overlord and middleManager/indexer "
            "logs for more details.",
            log_line="org.apache.druid.indexing.overlord.hrtr.HttpRemoteTaskRunner - "
            "Worker disappeared",
            has_report=False,
            stack=False,
        ),
        FailureKind(
            name="oom_killed",
            outcome="transient",
            status_error="Task execution process exited unsuccessfully with code[137]. "
            "See middleManager logs for more details.",
            log_line="java.lang.OutOfMemoryError: Java heap space",
            has_report=False,
            stack=False,
        ),
        FailureKind(
            name="lock_revoked",
            outcome="transient",
            status_error="org.apache.druid.java.util.common.ISE: Lock revoked: "
            "[TimeChunkLock{type=EXCLUSIVE, priority=50, revoked=true}]",
            log_line="org.apache.druid.java.util.common.ISE: Lock revoked",
        ),
        FailureKind(
            name="parse_errors",
            outcome="structural",
            status_error="org.apache.druid.java.util.common.RE: Max parse exceptions[0] exceeded",
            log_line="org.apache.druid.java.util.common.RE: Max parse exceptions[0] exceeded",
            unparseable=12,
        ),
        FailureKind(
            name="missing_input",
            outcome="structural",
            status_error="java.lang.IllegalArgumentException: No files found to ingest "
            "with the given input source",
            log_line="java.io.FileNotFoundException: input file does not exist",
            ingestion_state="DETERMINE_PARTITIONS",
        ),
        FailureKind(
            name="bad_spec",
            outcome="structural",
            status_error="Encountered error[partitionsSpec[single_dim] is not supported] while "
            "waiting for task to be ready. See Overlord logs for more details.",
            log_line="partitionsSpec[single_dim] is not supported",
            has_report=False,
            stack=False,
            before_running=True,
        ),
    )
}

DEFAULT_TRANSIENT = ("s3_throttle", "lost_worker", "oom_killed", "lock_revoked")
DEFAULT_STRUCTURAL = ("parse_errors", "missing_input")

_FRAMES = (
    "org.apache.druid.segment.incremental.ParseExceptionHandler.handle",
    "org.apache.druid.indexing.common.task.IndexTask.collectIntervalsAndShardSpecs",
    "org.apache.druid.indexing.common.task.IndexTask.determineShardSpecs",
    "org.apache.druid.indexing.common.task.IndexTask.runTask",
    "org.apache.druid.indexing.common.task.AbstractTask.run",
    "org.apache.druid.indexing.overlord.SingleTaskBackgroundRunner$SingleTaskBackgroundRunnerCallable.call",
    "java.util.concurrent.FutureTask.run",
    "java.util.concurrent.ThreadPoolExecutor.runWorker",
    "java.util.concurrent.ThreadPoolExecutor$Worker.run",
    "java.lang.Thread.run",
)


def stack_trace(first_line: str) -> str:
    """A Java-style stack trace under `first_line`, long enough to be truncated in a status."""
    frames = "".join(
        f"\tat {f}({f.rsplit('.', 2)[-2].split('$')[0]}.java:{97 + 13 * n})\n"
        for n, f in enumerate(_FRAMES * 2)
    )
    return f"{first_line}\n{frames}"


def report_error(failure: FailureKind) -> str:
    return stack_trace(failure.status_error) if failure.stack else failure.status_error


def status_error(failure: FailureKind, *, parallel: bool) -> str:
    """The task status `errorMsg`: the phase message in parallel mode, else the (truncated)
    stack trace or the Overlord's own message."""
    if parallel and failure.has_report:
        return PHASE_FAILURE
    return truncate_error(report_error(failure))


def truncate_error(message: str) -> str:
    """Druid keeps the first and last 512 characters of a long status `errorMsg`."""
    if len(message) <= 1024:
        return message
    omitted = len(message) - 1024
    return f"{message[:512]}...{omitted} characters omitted...{message[-512:]}"


def totals(processed: int, unparseable: int = 0, thrown_away: int = 0) -> dict[str, Any]:
    return {
        "processed": processed,
        "processedBytes": processed * 187,
        "processedWithError": 0,
        "thrownAway": thrown_away,
        "thrownAwayByReason": {"filtered": thrown_away} if thrown_away else {},
        "unparseable": unparseable,
    }


def parse_exceptions(count: int, at_ms: int, source: str) -> list[dict[str, Any]]:
    """Saved parse exceptions, newest first, as Druid lists them."""
    out = []
    for n in range(count, 0, -1):
        row = f"{{time=bad-{n}, channel=#en.wikipedia, added={n}}}"
        out.append(
            {
                "input": row,
                "errorType": "unparseable",
                "details": [
                    f"Timestamp[bad-{n}] is unparseable! Event: {row} "
                    f"(Path: {source}, Record: {n}, Line: {n + 1})"
                ],
                "timeOfExceptionMillis": at_ms - (count - n),
            }
        )
    return out


def completion_report(
    task_id: str,
    *,
    mode: ReportMode,
    context: dict[str, Any],
    rows: int,
    failure: FailureKind | None,
    saved_parse_exceptions: int = 0,
    at_ms: int = 0,
    records_processed: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A completion report shaped as Druid writes it for this mode and outcome."""
    unparseable = failure.unparseable if failure else 0
    saved = parse_exceptions(min(unparseable, saved_parse_exceptions), at_ms, "s3://input/part-0")
    error = report_error(failure) if failure else None
    state = failure.ingestion_state if failure else "COMPLETED"
    if mode == "parallel":
        row_stats: dict[str, Any] = {"totals": {"buildSegments": totals(rows, unparseable, 3)}}
        state = "COMPLETED"  # parallel mode says COMPLETED even on failure (REFERENCE §5.2)
        error = PHASE_FAILURE if failure else None
        events: dict[str, Any] = {"buildSegments": saved}
    elif mode == "streaming":
        row_stats = {"buildSegments": totals(rows, unparseable)}
        events = {"buildSegments": saved}
    else:
        in_determine = state == "DETERMINE_PARTITIONS"
        row_stats = {
            "determinePartitions": totals(rows if in_determine else 0, unparseable, 0),
            "buildSegments": totals(
                0 if in_determine else rows, 0 if in_determine else unparseable
            ),
        }
        events = (
            {"determinePartitions": saved if in_determine else [], "buildSegments": []}
            if in_determine
            else {"determinePartitions": [], "buildSegments": saved}
        )
    payload: dict[str, Any] = {
        "ingestionState": state,
        "unparseableEvents": events if saved_parse_exceptions > 0 else {},
        "rowStats": row_stats,
        "errorMsg": error,
        "segmentAvailabilityConfirmed": mode == "streaming" and error is None,
        "segmentAvailabilityWaitTimeMs": 5120 if mode == "streaming" else 0,
        "recordsProcessed": records_processed or {},
    }
    if failure is None and mode != "streaming":
        payload["segmentsPublished"] = max(1, rows // 5_000_000 + 1)
    envelope = {"type": "ingestionStatsAndErrors", "taskId": task_id, "payload": payload}
    return {
        "ingestionStatsAndErrors": envelope,
        "taskContext": {"type": "taskContext", "taskId": task_id, "payload": context},
    }


def live_report(task_id: str, rows: int) -> dict[str, Any]:
    """The report a running task's peon serves (moving averages plus totals so far)."""
    rates = {"processed": rows / 600, "processedBytes": rows / 3.2, "unparseable": 0}
    return {
        "ingestionStatsAndErrors": {
            "type": "ingestionStatsAndErrors",
            "taskId": task_id,
            "payload": {
                "ingestionState": "BUILD_SEGMENTS",
                "unparseableEvents": {},
                "rowStats": {
                    "movingAverages": {
                        "buildSegments": {
                            window: {**rates, "thrownAway": 0, "processedWithError": 0}
                            for window in ("5m", "15m", "1m")
                        }
                    },
                    # Live totals come from the peon's meters, without the reasons map.
                    "totals": {"buildSegments": _without_reasons(totals(rows))},
                },
                "errorMsg": None,
            },
        }
    }


def _without_reasons(counters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counters.items() if k != "thrownAwayByReason"}
