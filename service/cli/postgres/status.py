"""`druid-orch status --db postgresql://…`: the jobs of a log in PostgreSQL, from its read
model, read-only (the password from `DRUID_ORCH_EVENTLOG_PASSWORD`), as `local_status` reads a
file: the same queries, the same paused-datasource overlay."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from msgspec.structs import replace

from actors.errors import UnknownJobError
from actors.job.audit import postgres_password, unreadable_database
from actors.job.view import JobView
from eventlog.errors import EventLogError
from eventlog.events import BreakerOpened
from eventlog.postgres import PostgresEventLog
from eventlog.postgres.writer import DRIVER_ERRORS
from eventlog.summaries import MAX_PAGE, JobSummary
from service.job_queries import summary_query


async def _views(
    url: str,
    ids: Sequence[str],
    phases: tuple[str, ...],
    datasource: str | None,
    interval: str | None,
) -> list[JobView]:
    from service.cli.local_status import _PAUSES, _overlaps, _view

    async with PostgresEventLog(url, password=postgres_password(), readers=1) as log:
        paused: dict[str, str] = {}
        for stream_id, _version, _closed in await log.all_streams(_PAUSES):
            for recorded in await log.read_stream(stream_id):
                name = stream_id.removeprefix(_PAUSES)
                if isinstance(recorded.event, BreakerOpened):
                    paused[name] = recorded.event.reason
                else:
                    paused.pop(name, None)
        rows: list[JobSummary] = []
        if ids:
            for job_id in ids:
                found = await log.job_summary(job_id)
                if found is None:
                    raise UnknownJobError(job_id)
                if (
                    (not phases or found.phase in phases)
                    and (datasource is None or found.datasource == datasource)
                    and (interval is None or _overlaps(found.interval, interval))
                ):
                    rows.append(found)
        else:
            query = summary_query(
                phases=phases, datasource=datasource, interval=interval, limit=MAX_PAGE
            )
            while query is not None:
                page = await log.job_summaries(query)
                rows += page.jobs
                query = replace(query, after=page.next) if page.next is not None else None
    return [_view(r, paused) for r in rows]


def postgres_views(
    url: str,
    ids: Sequence[str],
    phases: Iterable[str],
    datasource: str | None,
    interval: str | None = None,
) -> list[JobView]:
    """The jobs named (all must exist), or every job of the phases and datasource whose
    interval overlaps `interval`; `AuditError` when the database cannot be read.

    Synchronous, as `local_views` is: `status` calls it from inside its own event loop, so
    the queries run on a loop of their own, on a thread.
    """
    chosen = tuple(phases)
    try:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _views(url, ids, chosen, datasource, interval)).result()
    except (EventLogError, *DRIVER_ERRORS) as exc:  # as a file that cannot be read
        raise unreadable_database(url, exc) from exc
