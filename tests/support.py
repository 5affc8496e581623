"""Helpers shared by the integration tests that run the orchestrator against the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from actors.settings import OrchestratorConfig
from eventlog.errors import EventLogUnavailableError
from eventlog.events import StatusObserved
from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE
from eventlog.sqlite.store import SQLiteEventLog
from service.demo import demo_config
from specs.compiler import CompiledJob, builtin_template, compile_job
from specs.intervals import Interval


def fast_config(**overrides: Any) -> OrchestratorConfig:
    """The demo's quick poller and retry settings, with `overrides` on top."""
    base = demo_config()
    fields: dict[str, Any] = {"poller": base.poller, "job": base.job}
    fields.update(overrides)
    return OrchestratorConfig(**fields)


def daily_jobs(count: int, start: datetime, *, max_sub_tasks: int = 2) -> list[CompiledJob]:
    """`count` one-day jobs of the built-in pipeline, from `start` on (1 sub-task: sequential)."""
    template = builtin_template()
    return [
        compile_job(
            template,
            Interval(start + timedelta(days=n), start + timedelta(days=n + 1)),
            max_sub_tasks=max_sub_tasks,
        )
        for n in range(count)
    ]


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


async def quota_with_room(db: Path, pages: int = 64) -> int:
    """Create an empty log at `db`; a size quota that leaves it `pages` pages to grow."""
    async with SQLiteEventLog(db):
        pass
    return (await asyncio.to_thread(db.stat)).st_size + pages * DEFAULT_PAGE_SIZE


# Filler sizes that leave no room even for a small append (a job's next event).
FILL_LAST_PAGES = (3000, 300, 1)


async def fill_until_refused(
    log: SQLiteEventLog, sizes: Sequence[int] = (3000,)
) -> tuple[EventLogUnavailableError, int]:
    """Append closed one-event filler streams until the log refuses one (a disk that others
    filled), with events of each size in turn: smaller ones after big ones fill the last
    pages too. Returns the last refusal and how many streams were written."""
    written = 0
    refusal: EventLogUnavailableError | None = None
    for size in sizes:
        for _ in range(10_000):
            try:
                await log.append(
                    f"filler:{written}",
                    [StatusObserved(at=1.0, task_id="x" * size, runner_status="R")],
                    0,
                    close_stream=True,
                )
            except EventLogUnavailableError as exc:
                refusal = exc
                break
            written += 1
        else:
            raise AssertionError("the size limit was never reached")
    assert refusal is not None
    return refusal, written
