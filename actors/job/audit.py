"""Audit: the FSM re-run over a recorded log, without the orchestrator running.

A file is read through `eventlog.sqlite.offline` (read-only, safe next to a running daemon), a
log in PostgreSQL through `eventlog.postgres.offline` (`recorded_events`, `timeline`, and so
`audit history`, `export` and `replay` take either); what is here is the part that needs the
job's FSM:

* `verify` proves two things, and stops at the first problem: the hash chain is intact (the
  log was not edited, truncated or reordered; the event-log room's verifier does that part),
  and every job stream replays through the FSM (`actors.job.fsm.evolve`) without an illegal
  transition, with versions counting up from 1. `replayed` is that second half over any
  backend's events (a log in PostgreSQL: `service.cli.postgres.audit`).
* `timeline` is one job's events, which `druid-orch audit history` tells as a story.
* `jobs_and_pauses` folds every job stream (what `druid-orch status --db` shows).

`actors.job.rule_replay` re-runs classification over recorded failures with new rules.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from actors.errors import InvalidTransitionError, OrchestratorError
from actors.job.evolve import evolve
from actors.job.state import JobState
from actors.job.sub_tasks import sub_tasks_story
from actors.job.task_interval import short_instant
from actors.stream_names import BREAKER_PREFIX
from eventlog.chain_report import ChainReport
from eventlog.errors import CorruptEventError, EventLogError, UnreadableLogError
from eventlog.events import BreakerOpened, SubmitIntended
from eventlog.postgres.urls import is_postgres_url, redacted
from eventlog.records import Recorded
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.verify import verify_file
from specs.errors import IntervalError
from specs.intervals import Interval, parse_instant

JOB_PREFIX = "job:"
# Where a command finds the password of a log in PostgreSQL: never in the URL (docs/ha.md).
PASSWORD_ENV = "DRUID_ORCH_EVENTLOG_PASSWORD"


def postgres_password() -> str | None:
    """The password a command gives a log in PostgreSQL (`PASSWORD_ENV`), if any."""
    return os.environ.get(PASSWORD_ENV)


def unreadable_database(url: str, exc: BaseException) -> AuditError:
    """`exc`, raised reading the database at `url`, as the `AuditError` a file that cannot
    be read gives: naming the database once, without its password."""
    where, text = redacted(url), str(exc)
    return AuditError(text if where in text else f"{where}: {text}")


class AuditError(OrchestratorError):
    """The log cannot be read, or a job is not in it."""


class Problem(msgspec.Struct, frozen=True):
    """The first thing wrong with a log: where (seq, stream, version) and what."""

    check: str  # "chain" or "replay"
    message: str
    seq: int | None = None
    stream_id: str | None = None
    version: int | None = None


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    streams: int
    jobs: int
    chain_checked: bool
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@contextmanager
def offline_log(db: str | Path) -> Iterator[OfflineLog]:
    """The log at `db`, read-only; any reason it cannot be read becomes an `AuditError`."""
    try:
        with OfflineLog.open(db) as log:
            yield log
    except UnreadableLogError as exc:
        raise AuditError(str(exc)) from exc


def recorded_events(
    db: str | Path,
    *,
    after_seq: int = 0,
    since: float | None = None,
    stream_id: str | None = None,
) -> Generator[Recorded, None, None]:
    """Stored events in global order, decoded, from a file or a `postgresql://` URL; raises
    AuditError naming a bad row's seq, or why the log cannot be read.

    The log stays open until the generator is exhausted or closed.
    """
    if is_postgres_url(db):
        yield from _postgres_events(str(db), after_seq=after_seq, since=since, stream_id=stream_id)
        return
    with offline_log(db) as log:
        yield from log.records(after_seq=after_seq, since=since, stream_id=stream_id)


def _postgres_events(
    url: str, *, after_seq: int, since: float | None, stream_id: str | None
) -> Iterator[Recorded]:
    # Imported here: the driver is loaded only by commands that read a database.
    from eventlog.postgres.offline import records
    from eventlog.postgres.writer import DRIVER_ERRORS

    try:
        yield from records(
            url,
            password=postgres_password(),
            after_seq=after_seq,
            since=since,
            stream_id=stream_id,
        )
    except (EventLogError, *DRIVER_ERRORS) as exc:
        raise unreadable_database(url, exc) from exc


def shown_name(db: str | Path) -> str:
    """How messages name a log: a file by its path, a database by its URL without password."""
    return redacted(str(db)) if is_postgres_url(db) else str(db)


# --- verify ---------------------------------------------------------------------------------


def replay_problem(rows: Iterator[Recorded]) -> tuple[Problem | None, int, int, int]:
    """Replay job streams through the FSM. Returns (first problem, events, streams, jobs)."""
    states: dict[str, JobState] = {}
    versions: dict[str, int] = {}
    events = 0
    for recorded in rows:
        events += 1
        sid = recorded.stream_id
        expected = versions.get(sid, 0) + 1
        if recorded.version != expected:
            return (
                Problem(
                    "replay",
                    f"stream {sid} jumps from version {expected - 1} to {recorded.version}",
                    recorded.seq,
                    sid,
                    recorded.version,
                ),
                events,
                len(versions),
                len(states),
            )
        versions[sid] = recorded.version
        if not sid.startswith(JOB_PREFIX):
            continue
        try:
            states[sid] = evolve(states.get(sid, JobState()), recorded.event)
        except InvalidTransitionError as exc:
            return (
                Problem(
                    "replay", f"illegal transition: {exc}", recorded.seq, sid, recorded.version
                ),
                events,
                len(versions),
                len(states),
            )
    return None, events, len(versions), len(states)


def verify(db: str | Path, *, archives: bool = False) -> VerifyReport:
    """Check the hash chain, then replay every job stream; report the first problem."""
    chain = verify_file(str(db), archives=archives)
    with offline_log(db) as log:
        return replayed(chain, log.records())


def replayed(chain: ChainReport, records: Iterator[Recorded]) -> VerifyReport:
    """The report on a log whose chain walk found `chain` and whose events are `records` (in
    seq order, from either backend): its first broken link, else the first event that does
    not replay."""
    try:
        problem, events, streams, jobs = replay_problem(records)
    except (UnreadableLogError, CorruptEventError) as exc:
        problem, events, streams, jobs = Problem("decode", str(exc)), 0, 0, 0
    return VerifyReport(
        events=events,
        streams=streams,
        jobs=jobs,
        chain_checked=True,
        problem=_chain_problem(chain) or problem,
    )


def _chain_problem(report: ChainReport) -> Problem | None:
    """The first broken link the event-log room's chain verifier found, as a problem."""
    if report.broken is None:
        return None
    link = report.broken
    return Problem(f"chain: {link.kind}", link.message, link.seq)


# --- history, export and folding -----------------------------------------------------


def timeline(db: str | Path, job_id: str) -> list[Recorded]:
    """One job's events, in order; raises AuditError if the job is not in the log."""
    history = list(recorded_events(db, stream_id=JOB_PREFIX + job_id))
    if not history:
        raise AuditError(f"no job {job_id!r} in {shown_name(db)}")
    return history


def job_states(db: str | Path) -> dict[str, JobState]:
    """Every job's state, folded from its stream (read-only, no Overlord needed)."""
    return jobs_and_pauses(db)[0]


def jobs_and_pauses(db: str | Path) -> tuple[dict[str, JobState], dict[str, str]]:
    """Every job's state, and the datasources whose breaker is open and why (as
    `Breakers.restore` finds them): what `status` shows, read in one pass over the log."""
    prefix = f"{BREAKER_PREFIX}datasource:"
    states: dict[str, JobState] = {}
    paused: dict[str, str] = {}
    with offline_log(db) as log:
        for recorded in log.records():
            sid = recorded.stream_id
            if sid.startswith(JOB_PREFIX):
                job_id = sid.removeprefix(JOB_PREFIX)
                try:
                    states[job_id] = evolve(states.get(job_id, JobState()), recorded.event)
                except InvalidTransitionError as exc:
                    raise unreplayable(db, recorded, exc) from exc
            elif sid.startswith(prefix):
                if isinstance(recorded.event, BreakerOpened):
                    paused[sid.removeprefix(prefix)] = recorded.event.reason
                else:
                    paused.pop(sid.removeprefix(prefix), None)
    return states, paused


def unreplayable(db: str | Path, recorded: Recorded, exc: InvalidTransitionError) -> AuditError:
    """The error for a job stream whose events do not fold (edited, or rows deleted)."""
    return AuditError(
        f"{shown_name(db)}: stream {recorded.stream_id} does not replay at seq {recorded.seq} "
        f"(version {recorded.version}): {exc}; the log was changed outside the orchestrator "
        "(`druid-orch audit verify` reports the first problem)"
    )


def intent_story(event: SubmitIntended) -> str | None:
    """Why an attempt's interval ends where it does, and how many sub-tasks it runs at once,
    for `audit history` (None: neither was decided when the intent was recorded)."""
    told = [_watermark_story(event), _sub_tasks_story(event)]
    return "; ".join(part for part in told if part) or None


def _sub_tasks_story(event: SubmitIntended) -> str | None:
    if event.sub_tasks is None:
        return None
    return f"sub-tasks {sub_tasks_story(event.sub_tasks)}"


def _watermark_story(event: SubmitIntended) -> str | None:
    mark = event.watermark
    if mark is None:
        return None
    where = _when(mark.aligned or mark.at)
    if mark.aligned is not None and mark.aligned != mark.at:
        where += f" ({_when(mark.at)} aligned down to the segment granularity)"
    why = f"(rule {mark.source}: {mark.detail}; supervisors {', '.join(mark.supervisors)})"
    if event.interval is None:
        return f"interval: the job's own, wholly before the streaming watermark {where} {why}"
    return f"interval {_interval(event.interval)} clipped at the streaming watermark {where} {why}"


def _when(text: str) -> str:
    try:
        return short_instant(parse_instant(text))
    except IntervalError:
        return text


def _interval(text: str) -> str:
    """`2024-03-01/2024-03-05` for whole days, else as `short_instant` writes the ends."""
    try:
        interval = Interval.parse(text)
    except IntervalError:
        return text
    ends = (interval.start, interval.end)
    if all(end.hour == end.minute == end.second == end.microsecond == 0 for end in ends):
        return "/".join(end.strftime("%Y-%m-%d") for end in ends)
    return "/".join(short_instant(end) for end in ends)
