"""The read side of the control API: query strings turned into bounded read-model questions.

`GET /v1/jobs`, `GET /v1/changes` and `GET /v1/datasources/{ds}/coverage` are answered from
the log's job summaries (`actors.queries`): no request replays the log or walks every job,
and no answer holds more than `eventlog.summaries.MAX_PAGE` jobs (coverage: `MAX_COVERAGE`
chunks). The CLI's `status --db` builds the same `SummaryQuery` from its flags
(`summary_query`), so the CLI and the API list the same jobs for the same filters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from actors.job.state import PHASES, TERMINAL
from actors.job.view import JobView
from actors.queries import JobQueries
from actors.supervision.breakers import plain_cause
from eventlog.summaries import DEFAULT_PAGE, MAX_PAGE, SummaryQuery
from specs.intervals import Interval, format_instant, parse_instant

MAX_WAIT_S = 60.0  # the longest a change-feed request is held open


class BadQueryError(ValueError):
    """A query string the API cannot answer; the message says which parameter and why."""


def phases_of(text: Iterable[str]) -> tuple[str, ...]:
    """Comma-separated phase lists, checked: a misspelt phase would match no job, silently."""
    phases = tuple(dict.fromkeys(p.strip() for t in text for p in t.split(",") if p.strip()))
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise BadQueryError(f"unknown phase {unknown[0]!r}; phases: {', '.join(PHASES)}")
    return phases


def summary_query(
    *,
    phases: Sequence[str] = (),
    terminal: bool | None = None,
    datasource: str | None = None,
    interval: str | None = None,
    changed_since: str | None = None,
    job_ids: Sequence[str] = (),
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> SummaryQuery | None:
    """The read-model question for these filters; None when they can match no job (terminal
    phases asked with `terminal=false`, say).

    Raises:
        BadQueryError: more ids than a page holds, a bad time or limit.
        SpecError: `interval` is not an ISO-8601 interval.
    """
    chosen = tuple(phases)
    if terminal is not None:
        chosen = tuple(p for p in (chosen or PHASES) if (p in TERMINAL) == terminal)
        if not chosen:
            return None
    if len(job_ids) > MAX_PAGE:
        raise BadQueryError(f"at most {MAX_PAGE} ids a request, not {len(job_ids)}")
    if limit < 1:
        raise BadQueryError(f"limit must be at least 1, not {limit}")
    overlaps = None
    if interval is not None:
        parsed = Interval.parse(interval)
        overlaps = (format_instant(parsed.start), format_instant(parsed.end))
    since = None
    if changed_since is not None:
        try:
            since = float(changed_since)
        except ValueError:
            since = parse_instant(changed_since).timestamp()
    return SummaryQuery(
        phases=chosen,
        datasource=datasource,
        overlaps=overlaps,
        changed_since=since,
        job_ids=tuple(dict.fromkeys(job_ids)),
        limit=min(limit, MAX_PAGE),
        after=cursor,
    )


def _flag(value: str | None) -> bool | None:
    return None if value is None else value.lower() in ("1", "true", "yes")


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise BadQueryError(f"{name} must be a whole number, not {text!r}") from exc
    # Positions, limits and cursors are SQLite integers: a larger one would reach the query
    # as an overflow (a 500), not as a question with no answer.
    if not -(2**63) <= value < 2**63:
        raise BadQueryError(f"{name} must fit in 64 bits, not {text}")
    return value


def list_query(query: Mapping[str, str], ids: Sequence[str]) -> SummaryQuery | None:
    """`GET /v1/jobs`'s query string: `phase` (comma-separated, repeatable), `terminal`,
    `datasource`, `interval` (overlap), `changed_since` (seconds or ISO-8601), `id`
    (repeatable), `limit`, `cursor`. `all` is accepted and changes nothing: every job ever
    recorded is listed, a page at a time."""
    phases = phases_of([query["phase"]] if "phase" in query else [])
    return summary_query(
        phases=phases,
        terminal=_flag(query.get("terminal")),
        datasource=query.get("datasource"),
        interval=query.get("interval"),
        changed_since=query.get("changed_since"),
        job_ids=ids,
        limit=_int(query, "limit", DEFAULT_PAGE),
        cursor=query.get("cursor"),
    )


def changes_params(query: Mapping[str, str]) -> tuple[int, int, float]:
    """`GET /v1/changes`'s `(after, limit, wait)`: after a log position, at most `limit`
    jobs, held open up to `wait` seconds (at most `MAX_WAIT_S`) while nothing changes."""
    after = _int(query, "after", 0)
    if after < 0:
        raise BadQueryError(f"after must be a log position (0 or more), not {after}")
    limit = max(1, min(_int(query, "limit", MAX_PAGE), MAX_PAGE))
    text = query.get("wait", "0")
    try:
        wait = float(text)
    except ValueError as exc:
        raise BadQueryError(f"wait must be a number of seconds, not {text!r}") from exc
    if not 0 <= wait <= MAX_WAIT_S:
        raise BadQueryError(f"wait must be from 0 to {MAX_WAIT_S:g} seconds, not {text}")
    return after, limit, wait


def coverage_range(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`?from=&to=` of a coverage request as instants in the jobs' form; a missing one is
    the datasource's first or last job (the answer holds at most `MAX_COVERAGE` jobs)."""
    start, end = query.get("from"), query.get("to")
    first = format_instant(parse_instant(start)) if start is not None else None
    last = format_instant(parse_instant(end)) if end is not None else None
    if start is not None and end is not None:
        Interval(parse_instant(start), parse_instant(end))  # refuses an empty or reversed one
    return first, last


def spans_by_datasource(jobs: Iterable[Any]) -> dict[str, str]:
    """Each datasource of `jobs` (anything with `datasource` and `interval`) and the interval
    from its first job's start to its last job's end: one query finds what they overlap."""
    bounds: dict[str, tuple[str, str]] = {}
    for job in jobs:
        start, _, end = job.interval.partition("/")
        low, high = bounds.get(job.datasource, (start, end))
        bounds[job.datasource] = (min(low, start), max(high, end))
    return {ds: f"{low}/{high}" for ds, (low, high) in bounds.items()}


def overlap_warning(jobs: Sequence[Any], succeeded: Iterable[Any]) -> str | None:
    """Why submitting `jobs` re-ingests data: those whose datasource and interval another
    job (another spec: another hash in its id) already succeeded on; None when none does."""

    def key(job: Any) -> tuple[str, str, bool]:
        return (job.datasource, job.interval, "_compact_" in job.job_id.rsplit("_", 3)[0])

    done: dict[tuple[str, str, bool], Any] = {}
    for view in succeeded:
        done.setdefault(key(view), view)
    digest = {j.job_id.rsplit("_", 1)[-1] for j in jobs}
    hits = [
        j for j in jobs if key(j) in done and done[key(j)].job_id.rsplit("_", 1)[-1] not in digest
    ]
    if not hits:
        return None
    days = ", ".join(f"{j.datasource}/{j.interval[:10]}" for j in hits[:5])
    more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
    jobs_word = "job covers" if len(hits) == 1 else "jobs cover"
    return (
        f"{len(hits)} {jobs_word} an interval another job already ingested with a different "
        f"spec ({days}{more}): submitting ingests those days again"
    )


async def succeeded_overlapping(queries: JobQueries, jobs: Sequence[Any]) -> list[JobView]:
    """The succeeded jobs overlapping `jobs`' intervals (for `overlap_warning`), a page of
    the read model at a time."""
    found: list[JobView] = []
    for datasource, span in spans_by_datasource(jobs).items():
        query = summary_query(
            phases=("succeeded",), datasource=datasource, interval=span, limit=MAX_PAGE
        )
        while query is not None:
            page = await queries.page(query)
            found += page.jobs
            query = msgspec.structs.replace(query, after=page.next) if page.next else None
    return found


def overlord_block(health: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/datasources`' `overlord`: the breaker's `overlord_health`, its cause without
    the endpoint, its times in ISO 8601 for people with the epoch beside for programs."""
    block = dict(health)
    if block["last_error"] is not None:
        block["last_error"] = plain_cause(block["last_error"])
    for key in ("since", "last_error_at", "next_probe"):
        epoch = block[key]
        block[f"{key}_epoch"] = epoch
        block[key] = (
            None
            if epoch is None
            else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    return block


def coverage_cells(query: Mapping[str, str]) -> bool:
    """Whether a coverage request asks `view=cells` (rows of `[interval, phase, job_id,
    accepted_at]`, what a calendar draws) rather than the default `view=jobs` (job views)."""
    view = query.get("view", "jobs")
    if view not in ("jobs", "cells"):
        raise BadQueryError(f"view must be jobs or cells, not {view!r}")
    return view == "cells"
