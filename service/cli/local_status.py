"""`druid-orch status --db`: the jobs of a log on disk, from its read model, read-only.

The same `SummaryQuery` the control API builds (`service.job_queries.summary_query`), asked of
the file through `eventlog.sqlite.offline`, a page at a time, so the CLI and the API list the
same jobs for the same filters. A paused datasource (its breaker stream) is the one live
reason a job waits that the file also knows; it is laid over the rows as the daemon lays its
own over them. A log from before the read model (not yet booted by this version) is folded
instead, as `status` always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from msgspec.structs import replace

from actors.errors import UnknownJobError
from actors.job.audit import jobs_and_pauses, offline_log
from actors.job.state import JobState, Phase
from actors.job.summary import view_of
from actors.job.view import JobView, hold_reason
from actors.stream_names import BREAKER_PREFIX
from actors.supervision.breakers import plain_cause
from eventlog.events import BreakerOpened
from eventlog.sqlite.offline import OfflineLog
from eventlog.summaries import MAX_PAGE, JobSummary
from service.job_queries import summary_query
from specs.intervals import Interval

_PAUSES = f"{BREAKER_PREFIX}datasource:"


def local_views(
    db: str | Path,
    ids: Sequence[str],
    phases: Iterable[str],
    datasource: str | None,
    interval: str | None = None,
) -> list[JobView]:
    """The jobs named (all of them must exist), or every job of the phases and datasource.

    Raises:
        UnknownJobError: a named job is not in the log.
        AuditError: the file is not a readable log.
    """
    chosen = tuple(phases)
    if str(db).startswith(("postgresql://", "postgres://")):  # docs/ha.md
        from service.cli.postgres.status import postgres_views

        return postgres_views(str(db), ids, chosen, datasource, interval)
    with offline_log(db) as log:
        if log.summaries_need_rebuild():
            return _folded(db, ids, chosen, datasource, interval)
        paused = _paused(log)
        rows: list[JobSummary] = []
        if ids:
            for job_id in ids:
                found = log.job_summary(job_id)
                if found is None:
                    raise UnknownJobError(job_id)
                rows.append(found)
            rows = [
                r
                for r in rows
                if (not chosen or r.phase in chosen)
                and (datasource is None or r.datasource == datasource)
                and (interval is None or _overlaps(r.interval, interval))
            ]
        else:
            query = summary_query(
                phases=chosen, datasource=datasource, interval=interval, limit=MAX_PAGE
            )
            while query is not None:
                page = log.job_summaries(query)
                rows += page.jobs
                query = replace(query, after=page.next) if page.next is not None else None
    return [_view(r, paused) for r in rows]


def _view(row: JobSummary, paused: dict[str, str]) -> JobView:
    if row.terminal or row.datasource not in paused:
        return view_of(row)
    # hold_reason reads the phase and datasource for a pause; the row has both.
    probe = JobState(job_id=row.job_id, phase=cast(Phase, row.phase), datasource=row.datasource)
    return view_of(row, hold_reason(probe, paused))


def overlord_as_recorded(db: str | Path) -> dict[str, Any] | None:
    """The Overlord breaker as the log last recorded it, when open (the shape of the API's
    `overlord` block); None when it is closed or never opened, or the log is on PostgreSQL
    (whose breaker events `status --api` shows through the leader)."""
    if str(db).startswith(("postgresql://", "postgres://")):
        return None
    with offline_log(db) as log:
        last = None
        for recorded in log.records(stream_id=f"{BREAKER_PREFIX}overlord"):
            last = recorded.event
    if not isinstance(last, BreakerOpened):
        return None
    return {
        "state": "open",
        "since_epoch": last.at,
        "last_error": plain_cause(last.reason),
        "next_probe_epoch": last.until,
    }


def _paused(log: OfflineLog) -> dict[str, str]:
    """The datasources whose breaker is open, and why (as `Breakers.restore` finds them)."""
    paused: dict[str, str] = {}
    for recorded in log.records(stream_prefix=_PAUSES):
        name = recorded.stream_id.removeprefix(_PAUSES)
        if isinstance(recorded.event, BreakerOpened):
            paused[name] = recorded.event.reason
        else:
            paused.pop(name, None)
    return paused


def local_by_ids(db: str | Path, ids: Sequence[str]) -> list[JobView]:
    """The jobs among `ids` the log holds (the others are left out)."""
    found: list[JobView] = []
    for job_id in ids:
        try:
            found += local_views(db, [job_id], (), None)
        except UnknownJobError:
            continue
    return found


def _overlaps(interval: str, other: str) -> bool:
    a, b = Interval.parse(interval), Interval.parse(other)
    return a.start < b.end and b.start < a.end


def _folded(
    db: str | Path,
    ids: Sequence[str],
    phases: tuple[str, ...],
    datasource: str | None,
    interval: str | None,
) -> list[JobView]:
    states, paused = jobs_and_pauses(db)
    views = [JobView.of(s, hold_reason(s, paused)) for s in states.values() if s.phase != "new"]
    for job_id in ids:
        if job_id not in states or states[job_id].phase == "new":
            raise UnknownJobError(job_id)
    return [
        v
        for v in views
        if (not ids or v.job_id in ids)
        and (not phases or v.phase in phases)
        and (datasource is None or v.datasource == datasource)
        and (interval is None or _overlaps(v.interval, interval))
    ]
