"""What simulated tasks say when they fail: status messages, reports and log lines.

Each failure kind reproduces how Druid reports that failure (REFERENCE.md §3.3, §5): which
`errorMsg` the status carries, whether a completion report exists and what it says (in parallel
mode the report always says `ingestionState: COMPLETED` and only a phase message), and what
the task log holds, which is often the only place the real cause appears.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Outcome = Literal["success", "transient", "structural"]

PHASE_FAILURE = "Failed in phase[segment generation]. See task logs for details."


class FailureKind(msgspec.Struct, frozen=True):
    name: str
    outcome: Outcome
    status_error: str  # errorMsg of the task status in sequential mode (and index tasks)
    log_line: str  # the line in the task log that names the cause
    has_report: bool = True
    ingestion_state: str = "BUILD_SEGMENTS"
    unparseable: int = 0
    report_error: str | None = None  # errorMsg in the report; defaults to the log line


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
        ),
        FailureKind(
            name="oom_killed",
            outcome="transient",
            status_error="Task execution process exited unsuccessfully with code[137]. "
            "See middleManager logs for more details.",
            log_line="java.lang.OutOfMemoryError: Java heap space",
            has_report=False,
        ),
        FailureKind(
            name="lock_revoked",
            outcome="transient",
            status_error="Lock revoked: [TimeChunkLock{type=EXCLUSIVE, priority=50, revoked=true}]",
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
    )
}

DEFAULT_TRANSIENT = ("s3_throttle", "lost_worker", "oom_killed", "lock_revoked")
DEFAULT_STRUCTURAL = ("parse_errors", "missing_input")


def _totals(processed: int, unparseable: int = 0) -> dict[str, Any]:
    return {
        "processed": processed,
        "processedBytes": processed * 187,
        "processedWithError": 0,
        "thrownAway": 0,
        "thrownAwayByReason": {},
        "unparseable": unparseable,
    }


def completion_report(
    task_id: str,
    *,
    parallel: bool,
    context: dict[str, Any],
    rows: int,
    failure: FailureKind | None,
) -> dict[str, Any]:
    """A completion report shaped as Druid writes it for this mode and outcome."""
    unparseable = failure.unparseable if failure else 0
    if parallel:
        row_stats: dict[str, Any] = {"totals": {"buildSegments": _totals(rows, unparseable)}}
        state = "COMPLETED"  # parallel mode says COMPLETED even on failure (REFERENCE §5.2)
        error = PHASE_FAILURE if failure else None
        unparseable_events: dict[str, Any] = {}
    else:
        row_stats = {
            "determinePartitions": _totals(0),
            "buildSegments": _totals(rows, unparseable),
        }
        state = failure.ingestion_state if failure else "COMPLETED"
        error = (failure.report_error or failure.status_error + "\n\tat ...") if failure else None
        unparseable_events = {}
    return {
        "ingestionStatsAndErrors": {
            "type": "ingestionStatsAndErrors",
            "taskId": task_id,
            "payload": {
                "ingestionState": state,
                "unparseableEvents": unparseable_events,
                "rowStats": row_stats,
                "errorMsg": error,
                "segmentAvailabilityConfirmed": False,
                "segmentAvailabilityWaitTimeMs": 0,
                "recordsProcessed": {},
            },
        },
        "taskContext": {"type": "taskContext", "taskId": task_id, "payload": context},
    }


def live_report(task_id: str, rows: int) -> dict[str, Any]:
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
                            "5m": {"processed": 3.39, "unparseable": 0, "thrownAway": 0},
                            "15m": {"processed": 1.13, "unparseable": 0, "thrownAway": 0},
                            "1m": {"processed": 16.9, "unparseable": 0, "thrownAway": 0},
                        }
                    },
                    "totals": {"buildSegments": _totals(rows)},
                },
                "errorMsg": None,
            },
        }
    }


def status_error(failure: FailureKind, *, parallel: bool) -> str:
    """The task status `errorMsg`, truncated the way Druid truncates it (512 + 512)."""
    if parallel and failure.has_report:
        return PHASE_FAILURE
    return truncate_error(failure.status_error)


def truncate_error(message: str) -> str:
    if len(message) <= 1024:
        return message
    omitted = len(message) - 1024
    return f"{message[:512]}...{omitted} characters omitted...{message[-512:]}"
