"""The read model audited and rebuilt from a log on disk (`druid-orch audit ...`).

`summaries_problem` folds every job stream of the file (read-only, beside a running daemon)
and compares each summary row with the fold: a row edited by hand, lost, or left behind is
reported as the first problem, with the seq of the last event the row should reflect, as a
broken link of the chain is. `first_problem` is that comparison over events and rows from
either backend (PostgreSQL's are read in `service.cli.postgres.audit`). `rebuild` rewrites
every row from the fold, holding the log's lock: the rows are derived data, so nothing is
lost that the events do not say.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from actors.errors import InvalidTransitionError
from actors.job.audit import AuditError, Problem, offline_log
from actors.job.summary import folded_summaries, rebuild_summaries
from actors.ownership import owning
from eventlog.errors import CorruptEventError, EventLogError, UnreadableLogError
from eventlog.records import Recorded
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.summaries import JobSummary

_HINT = "; `druid-orch audit rebuild-summaries` rebuilds the summaries from the events"


def summaries_problem(db: str | Path) -> tuple[bool, Problem | None]:
    """`(checked, first problem)`: whether every summary row equals the fold of its stream.

    Not checked (False) on a log whose summaries were never built (migrated, not yet
    booted). Call it on a log whose streams replay (`actors.job.audit.verify` says so).
    """
    with offline_log(db) as log:
        if log.summaries_need_rebuild():
            return False, None
        return True, first_problem(
            log.records(),
            log.checkable_summaries(),
            lambda: (log.phase_counts(), log.counted_phases()),
        )


def first_problem(
    records: Iterable[Recorded],
    rows: Iterable[tuple[str, JobSummary]],
    counts: Callable[[], tuple[dict[str, int], dict[str, int]]],
) -> Problem | None:
    """The first summary row that differs from the fold of `records`, on either backend.

    Args:
        records: every stored event, in seq order.
        rows: `(stream id, row)` for every summary whose events are in the log (archived
            jobs' rows are not: their events are not there to fold).
        counts: the stored jobs-by-phase counts and those counted from every row (archived
            ones too), read only once every row matched.
    """
    try:
        return _first_problem(records, rows, counts)
    except InvalidTransitionError as exc:
        return Problem("replay", f"a job stream does not replay: {exc}")
    except CorruptEventError as exc:
        return Problem("summaries", exc.detail)
    except UnreadableLogError as exc:  # no such table, a column of the wrong type
        return Problem("summaries", str(exc))


def _first_problem(
    records: Iterable[Recorded],
    rows: Iterable[tuple[str, JobSummary]],
    counts: Callable[[], tuple[dict[str, int], dict[str, int]]],
) -> Problem | None:
    expected = folded_summaries(records)
    for stream_id, row in rows:
        want = expected.pop(stream_id, None)
        if want is None:
            return Problem(
                "summaries",
                f"job {row.job_id} has a summary row but no events in the log" + _HINT,
                row.position,
                stream_id,
                row.version,
            )
        if row != want:
            return Problem(
                "summaries",
                f"the summary row of job {row.job_id} differs from the fold of its "
                f"stream: {_difference(row, want)}" + _HINT,
                want.position,
                stream_id,
                want.version,
            )
    if expected:
        stream_id, want = min(expected.items())
        return Problem(
            "summaries",
            f"job {want.job_id} has events but no summary row" + _HINT,
            want.position,
            stream_id,
            want.version,
        )
    stored, counted = counts()
    if stored != counted:
        return Problem(
            "summaries",
            f"the stored jobs-by-phase counts {dict(sorted(stored.items()))} differ from "
            f"the rows' {dict(sorted(counted.items()))}" + _HINT,
        )
    return None


def _difference(row: JobSummary, want: JobSummary) -> str:
    fields = [f for f in JobSummary.__struct_fields__ if getattr(row, f) != getattr(want, f)]
    return ", ".join(
        f"{f} is {getattr(row, f)!r} where the events say {getattr(want, f)!r}" for f in fields
    )


def rebuild(db: str | Path) -> int:
    """Rewrite every summary row of the log at `db` from its events; returns the rows.

    Raises:
        LogInUseError: an orchestrator holds the log (rebuild through it: it rebuilds at
            boot when told to, or stop it first).
        AuditError: the log cannot be opened, or a stream does not replay.
    """
    if not Path(db).is_file():
        raise AuditError(f"no event log at {db}")
    with owning(db):
        try:
            return asyncio.run(_rebuild(db))
        except InvalidTransitionError as exc:
            raise AuditError(f"{db}: a job stream does not replay: {exc}") from exc
        except EventLogError as exc:
            raise AuditError(f"{db}: {exc}") from exc


async def _rebuild(db: str | Path) -> int:
    async with SQLiteEventLog(db, writer="thread") as log:
        return await rebuild_summaries(log)
