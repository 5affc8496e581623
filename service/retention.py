"""Retention in the daemon: finished jobs' streams older than `keep_days` are moved out of the
log into archive files, on a schedule, so the log does not grow for ever.

An archive keeps every archived event with the hash chain across it (`audit verify
--archives` checks both), and the job-summary projection keeps the archived jobs' rows, so
`status` still finds them. Only closed streams go (finished jobs, never a live one); a
supervisor's stream is never closed, so it stays. Turning retention off is a setting
(`eventlog.retention.enabled = false`) that the daemon names when it starts, not a silence.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import msgspec
import structlog

from eventlog import EventLog
from eventlog.retention.closed_streams import RetentionReport, archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog

__all__ = ["RetentionSection", "archive_directory", "retention_loop", "retention_pass"]

logger = structlog.get_logger("druid_orch.retention")

DAY_S = 86_400.0


class RetentionSection(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    # Finished jobs whose last event is older than this are archived (0: as soon as they end).
    keep_days: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # Where archive files go (default: `<log>-archive/` beside the log).
    directory: str | None = None
    # How often a pass runs; the first one runs this long after the daemon is ready.
    interval_s: Annotated[float, msgspec.Meta(gt=0)] = 6 * 3600.0
    # Streams per archive file.
    group: Annotated[int, msgspec.Meta(ge=1)] = 1000


def archive_directory(db: str | Path, section: RetentionSection) -> Path:
    if section.directory is not None:
        return Path(section.directory)
    path = Path(db)
    return path.with_name(f"{path.name}-archive")


async def retention_pass(
    log: EventLog, db: str | Path, section: RetentionSection, *, now: float | None = None
) -> RetentionReport:
    """Archive every closed stream older than `keep_days`; returns what was archived."""
    cutoff = (time.time() if now is None else now) - section.keep_days * DAY_S
    if isinstance(log, SQLiteEventLog):
        report = await archive_closed_streams(
            log, older_than=cutoff, directory=archive_directory(db, section), group=section.group
        )
    else:
        from eventlog.postgres import PostgresEventLog
        from eventlog.postgres.retention import archive_closed_streams_pg

        # A database has no folder beside it: its archives go where the config says.
        if not isinstance(log, PostgresEventLog) or section.directory is None:
            return RetentionReport()
        report = await archive_closed_streams_pg(
            log, older_than=cutoff, directory=section.directory, group=section.group
        )
    logger.info(
        "retention_pass",
        streams=report.streams,
        events=report.events,
        archives=report.archives,
        keep_days=section.keep_days,
    )
    return report


async def retention_loop(log: EventLog, db: str | Path, section: RetentionSection) -> None:
    """Run a pass every `interval_s` until cancelled; a failed pass is logged and retried at
    the next interval (the log is untouched by a pass that fails)."""
    while True:
        await asyncio.sleep(section.interval_s)
        try:
            await retention_pass(log, db, section)
        except Exception as exc:  # the daemon goes on; the next pass tries again
            logger.error("retention_pass_failed", error=f"{type(exc).__name__}: {exc}")
