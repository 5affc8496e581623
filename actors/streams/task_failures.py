"""Why a supervisor's streaming tasks fail: the newest failed task's report, read by the same
rules as a batch task's failure.

UNHEALTHY_TASKS says only that the supervisor's tasks keep failing. The cause is in the failed
tasks themselves (a parse-exception limit, a lost worker, an out-of-memory kill), and the
failure rules that classify batch tasks already know those causes, so the supervisor's
reading names the one the newest failed task shows. One `GET /tasks` of the datasource's
recently completed tasks finds it; nothing is fetched while the supervisor is healthy.
"""

from __future__ import annotations

import msgspec
import structlog

from actors.job.evidence import gather_evidence
from actors.ports import StreamingOverlord
from actors.supervision.classification import Decision, FailureEvidence, RuleSet, classify
from overlord.errors import OverlordError

__all__ = ["TaskFailure", "latest_task_failure"]

logger = structlog.get_logger("druid_orch.supervisor")

# How many completed tasks of the datasource are looked through for the supervisor's own.
RECENT_TASKS = 50


class TaskFailure(msgspec.Struct, frozen=True):
    task_id: str
    decision: Decision


class _Reports(msgspec.Struct, frozen=True):
    # One try: a supervisor's reading is refreshed every health round anyway.
    report_attempts: int = 1
    report_retry_s: float = 0.0


async def latest_task_failure(
    overlord: StreamingOverlord, supervisor_id: str, datasource: str, rules: RuleSet
) -> TaskFailure | None:
    """The newest failed streaming task of the supervisor, classified; None when none is
    listed or the Overlord could not say (the reading then goes without it)."""
    prefixes = tuple(f"index_{kind}_{supervisor_id}_" for kind in ("kafka", "kinesis"))
    try:
        rows = await overlord.tasks(
            state="complete", datasource=datasource, max_complete=RECENT_TASKS
        )
    except OverlordError as exc:
        logger.warning("stream_task_failures_unread", supervisor_id=supervisor_id, error=str(exc))
        return None
    failed = [r for r in rows if r.status_code == "FAILED" and r.id.startswith(prefixes)]
    if not failed:
        return None
    newest = max(failed, key=lambda r: r.created_time or "")
    evidence = await gather_evidence(
        overlord,
        f"supervisor:{supervisor_id}",
        newest.id,
        FailureEvidence(source="status", error_msg=newest.error_msg),
        _Reports(),
    )
    return TaskFailure(newest.id, classify(evidence, rules))
