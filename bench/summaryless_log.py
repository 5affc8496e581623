"""The event log as shipped, minus the read model's rows: what `bench.read_model_e2e` compares
the shipped log against.

`SummarylessLog` drops the `summary` of every append before the writer sees it, so the writer
commits the events alone (no row, no index entry, no count trigger), and the appending process
does not draft the row either. Everything else is the shipped `SQLiteEventLog`, opened with
the same settings.

Why the comparison is fair, i.e. why the run without rows does the same work as the run with:

* the orchestrator still reads summaries while it runs: `Orchestrator.submit` asks for the
  job first (its dedup), `Orchestrator.get` / `wait` and `JobBoard.settled` read the row of a
  job no longer in memory (a finished one). Without rows those reads would answer "unknown"
  and change the run, so `job_summary` still asks SQLite (the same primary-key lookup, a
  miss instead of a hit) and then answers with the summary the append carried, kept in a
  dict: what the projection would have said (on a fresh log). The dict costs one store per
  append, charged to the run without rows: it errs in the projection's favour, by some
  tens of nanoseconds per append against the append's hundreds of microseconds;
* the summary itself (`actors.job.summary.summary_of`) is still built by `JobStreams.record`
  before the append, in both runs: that part of the projection's cost is not in the
  difference, and `read_model_e2e` times it on its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from actors.settings import OrchestratorConfig
from eventlog.contract import EventLog
from eventlog.events import Event
from eventlog.records import AppendResult
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.summaries import JobSummary

__all__ = ["SummarylessLog", "orchestrator_log"]


class SummarylessLog(SQLiteEventLog):
    """A `SQLiteEventLog` whose appends carry no summary (see the module's docstring)."""

    def __init__(self, path: str | Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.dropped: dict[str, JobSummary] = {}

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        close_stream: bool = False,
        reopen_stream: bool = False,
        summary: JobSummary | None = None,
    ) -> AppendResult:
        result = await super().append(
            stream_id,
            events,
            expected_version,
            close_stream=close_stream,
            reopen_stream=reopen_stream,
            summary=None,
        )
        if summary is not None:  # only once committed, as the row would have been
            self.dropped[summary.job_id] = summary
        return result

    async def job_summary(self, job_id: str) -> JobSummary | None:
        found = await super().job_summary(job_id)
        return found if found is not None else self.dropped.get(job_id)


@contextlib.asynccontextmanager
async def orchestrator_log(
    db: str, config: OrchestratorConfig, *, summaries: bool
) -> AsyncIterator[str | EventLog]:
    """What to hand `Orchestrator.open`: the path as the daemon does (the shipped log, opened
    by the orchestrator), or a `SummarylessLog` opened with the settings it would use."""
    if summaries:
        yield db
        return
    log = await SummarylessLog.open(
        db,
        synchronous=config.synchronous,
        writer=config.eventlog_writer,
        max_size_bytes=config.eventlog_max_size_bytes,
    )
    try:
        yield log
    finally:
        await log.close()
