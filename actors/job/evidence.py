"""The evidence of a failed task, beyond its status: its report, and the tail of its log."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import msgspec
import structlog

from actors.ports import Overlord
from actors.supervision.classification import FailureEvidence
from overlord.errors import OverlordError

logger = structlog.get_logger("druid_orch.task")

LOG_TAIL_BYTES = 16 * 1024


class ReportPolicy(Protocol):
    @property
    def report_attempts(self) -> int: ...

    @property
    def report_retry_s(self) -> float: ...


async def gather_evidence(
    overlord: Overlord,
    job_id: str,
    task_id: str,
    evidence: FailureEvidence,
    policy: ReportPolicy,
) -> FailureEvidence:
    """Report first (with a bounded wait: it is pushed after the status), then the log."""
    bound = logger.bind(job_id=job_id, task_id=task_id)
    report: dict[str, Any] | None = None
    for attempt in range(policy.report_attempts):
        try:
            full = await overlord.reports(task_id)
        except OverlordError as exc:
            bound.warning("report_fetch_failed", error=str(exc))
            full = None
        if full is not None:
            section = full.get("ingestionStatsAndErrors") or {}
            payload = section.get("payload") if isinstance(section, dict) else None
            report = payload if isinstance(payload, dict) else None
            break
        if attempt + 1 < policy.report_attempts:
            await asyncio.sleep(policy.report_retry_s)
    log_tail: str | None = None
    generic = report is None or report.get("ingestionState") == "COMPLETED"
    if generic:  # parallel mode or no report: the cause is only in the log
        try:
            log_tail = await overlord.log(task_id, -LOG_TAIL_BYTES)
        except OverlordError as exc:
            bound.warning("log_fetch_failed", error=str(exc))
    return msgspec.structs.replace(evidence, report=report, log_tail=log_tail)
