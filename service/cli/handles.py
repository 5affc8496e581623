"""Names people type for jobs: `wikipedia/2024-01-07` rather than a 62-character id.

A job's handle is its datasource and the shortest form of its interval (a date for a day, a
month for a month, `2024-01-07T10` for an hour, `start/end` otherwise), `:compact` for a
compaction job, and `~` plus the first hash characters of its id only where two jobs share
the rest. Every command that takes a job accepts its full id, its handle, `datasource/date`
(any job of that datasource whose interval holds the date, when only one does), a bare date,
or a unique prefix of its id; a name that fits several jobs lists them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from actors.errors import OrchestratorError, UnknownJobError
from actors.job.view import JobView
from specs.errors import SpecError
from specs.intervals import Interval, format_instant

MIN_HASH = 4  # hash characters a handle carries when it needs any
SHOWN_CANDIDATES = 8

# `find(datasource, interval)`: every job of the datasource (any, for None) whose interval
# overlaps `interval` (any, for None). `by_id(ids)`: the jobs with these exact ids.
Find = Callable[[str | None, str | None], Awaitable[list[JobView]]]
ById = Callable[[Sequence[str]], Awaitable[list[JobView]]]


class AmbiguousJobError(OrchestratorError):
    """A name that fits several jobs; the message lists them."""

    def __init__(self, name: str, candidates: Sequence[JobView]) -> None:
        shown = handles(candidates)
        lines = [f"  {shown[v.job_id]:<32} {v.phase:<11} {v.job_id}" for v in candidates]
        more = len(candidates) - SHOWN_CANDIDATES
        listed = "\n".join(lines[:SHOWN_CANDIDATES]) + (f"\n  ... {more} more" if more > 0 else "")
        super().__init__(f"{name!r} fits {len(candidates)} jobs; name one of them:\n{listed}")


def when(interval: str) -> str:
    """The shortest form of an interval a person reads: `2024-01-07`, `2024-01`,
    `2024-01-07T10`, `2024-01-01/2024-01-08`, or the interval as it is."""
    try:
        parsed = Interval.parse(interval)
    except SpecError:
        return interval
    start, end = parsed.start.astimezone(UTC), parsed.end.astimezone(UTC)
    if _midnight(start) and _midnight(end):
        if end - start == timedelta(days=1):
            return start.date().isoformat()
        if start.day == 1 and end.day == 1 and _months(start, end) == 1:
            return start.strftime("%Y-%m")
        return f"{start.date().isoformat()}/{end.date().isoformat()}"
    if _on_the_hour(start) and end - start == timedelta(hours=1):
        return start.strftime("%Y-%m-%dT%H")
    return f"{start.strftime('%Y-%m-%dT%H:%M')}/{end.strftime('%Y-%m-%dT%H:%M')}"


def when_interval(text: str) -> str | None:
    """The interval a typed `when` names (`2024-01-07`, `2024-01`, `2024-01-07T10`,
    `start/end`), as the API's `interval` filter takes it; None when it names none."""
    try:
        if "/" in text:
            return str(_iso(Interval.parse(text)))
        if len(text) == 7:  # 2024-01
            start = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
            end = (start + timedelta(days=32)).replace(day=1)
        elif len(text) == 10:  # 2024-01-07
            start = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            end = start + timedelta(days=1)
        elif len(text) == 13:  # 2024-01-07T10
            start = datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            end = start + timedelta(hours=1)
        else:
            return None
    except (ValueError, SpecError):
        return None
    return f"{format_instant(start)}/{format_instant(end)}"


def _iso(parsed: Interval) -> str:
    return f"{format_instant(parsed.start)}/{format_instant(parsed.end)}"


def _midnight(value: datetime) -> bool:
    return value.hour == value.minute == value.second == value.microsecond == 0


def _on_the_hour(value: datetime) -> bool:
    return value.minute == value.second == value.microsecond == 0


def _months(start: datetime, end: datetime) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _digest(job_id: str) -> str:
    return job_id.rsplit("_", 1)[-1]


def _compaction(job_id: str) -> bool:
    # `{prefix}_compact_{datasource}_{start}_{end}_{digest}` (specs.compaction)
    return "_compact_" in job_id.rsplit("_", 3)[0]


def base_handle(view: JobView) -> str:
    kind = ":compact" if _compaction(view.job_id) else ""
    return f"{view.datasource}/{when(view.interval)}{kind}"


def handles(views: Sequence[JobView]) -> dict[str, str]:
    """Each job's handle, unique among `views`: hash characters only where bases collide."""
    groups: dict[str, list[JobView]] = defaultdict(list)
    for view in views:
        groups[base_handle(view)].append(view)
    out: dict[str, str] = {}
    for base, group in groups.items():
        if len(group) == 1:
            out[group[0].job_id] = base
            continue
        digests = [_digest(v.job_id) for v in group]
        size = MIN_HASH
        while size < 12 and len({d[:size] for d in digests}) < len(set(digests)):
            size += 1
        for view, digest in zip(group, digests, strict=True):
            out[view.job_id] = f"{base}~{digest[:size]}"
    return out


async def resolve(names: Sequence[str], find: Find, by_id: ById) -> list[str]:
    """The job ids `names` name, in order, without repeats.

    Raises:
        UnknownJobError: a name fits no job.
        AmbiguousJobError: a name fits several.
    """
    exact = {v.job_id for v in await by_id(list(dict.fromkeys(names)))}
    ids: list[str] = []
    for name in names:
        job_id = name if name in exact else await _one(name, find)
        if job_id not in ids:
            ids.append(job_id)
    return ids


async def _one(name: str, find: Find) -> str:
    text, _, digest = name.partition("~")
    kind = ":compact" if text.endswith(":compact") else ""
    text = text.removesuffix(":compact")
    datasource, slash, when_text = text.partition("/")
    if not slash:
        datasource, when_text = "", text
    span = when_interval(when_text)
    if span is not None:
        found = await find(datasource or None, span)
        pool = [v for v in found if base_handle(v).endswith(f"/{when_text}{kind}")]
        if not pool and not kind:  # a day inside a longer job's interval names that job
            pool = [v for v in found if not _compaction(v.job_id)]
    elif slash:
        pool = []
    else:
        pool = [v for v in await find(None, None) if v.job_id.startswith(name)]
    if digest:
        pool = [v for v in pool if _digest(v.job_id).startswith(digest)]
    if len(pool) == 1:
        return pool[0].job_id
    if not pool:
        raise UnknownJobError(name)
    raise AmbiguousJobError(name, sorted(pool, key=lambda v: v.job_id))
