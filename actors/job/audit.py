"""Audit: the event log read back, without the orchestrator running.

Everything here opens the SQLite file read-only (`mode=ro`), so it is safe next to a running
daemon and can never change the log it is auditing.

* `verify` proves two things, and stops at the first problem: the hash chain is intact (the
  log was not edited, truncated or reordered; the event-log room's verifier does that part),
  and every job stream replays through the FSM (`actors.job.fsm.evolve`) without an illegal
  transition, with versions counting up from 1.
* `timeline` is one job's story for a person: time, event, key facts, and for each failure the
  report excerpt, the rule that classified it and the decision that followed.
* `export` writes every event as one JSON object per line, for other tools.
* `job_states` folds every job stream (what `druid-orch status --db` shows).

`actors.job.rule_replay` re-runs classification over recorded failures with new rules.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from actors.errors import InvalidTransitionError, OrchestratorError
from actors.job.fsm import JobState, evolve
from actors.stream_names import BREAKER_PREFIX
from eventlog.decoding import decode_body
from eventlog.errors import CorruptEventError, EventLogError, SchemaVersionError
from eventlog.events import (
    AnyEvent,
    BreakerOpened,
    FailureClassified,
    JobDied,
    RetryScheduled,
    event_fields,
)
from eventlog.sqlite.header import check_file, read_only_uri, wal_note
from eventlog.sqlite.migrations import identify
from eventlog.sqlite.store import Recorded
from eventlog.sqlite.verify import verify_file

JOB_PREFIX = "job:"


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


def connect(db: str | Path) -> sqlite3.Connection:
    """A read-only connection to an existing event log.

    The file is checked as the writer checks it (an SQLite file of whole pages, ours, of a
    schema version we can read), so a file that is not a log is refused with the reason
    rather than read as one with no events.
    """
    path = Path(db)
    if path.is_dir():
        raise AuditError(f"{db} is a directory, not an event log file")
    if not path.is_file():
        raise AuditError(f"no event log at {db}")
    if path.stat().st_size == 0:
        raise AuditError(f"{db} is empty (0 bytes): no event log was ever written to it")
    try:
        check_file(path)
    except EventLogError as exc:
        raise AuditError(str(exc)) from exc
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
    except sqlite3.DatabaseError as exc:
        raise AuditError(f"{db} is not a readable event log: {exc}") from exc
    try:
        if identify(conn, str(db)) == 0:
            raise AuditError(f"{db} is an empty SQLite database, not an event log")
        conn.execute("SELECT 1 FROM events LIMIT 1")
    except (CorruptEventError, SchemaVersionError) as exc:
        conn.close()
        raise AuditError(f"{exc}{wal_note(path)}") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise AuditError(f"{db} is not a readable event log: {exc}{wal_note(path)}") from exc
    except AuditError:
        conn.close()
        raise
    return conn


def records(
    conn: sqlite3.Connection,
    *,
    after_seq: int = 0,
    since: float | None = None,
    stream_id: str | None = None,
) -> Iterator[Recorded]:
    """Stored events in global order, decoded; raises AuditError naming a bad row's seq."""
    sql = "SELECT seq, stream_id, version, recorded_at, body FROM events WHERE seq > ?"
    params: list[Any] = [after_seq]
    if since is not None:
        sql += " AND recorded_at >= ?"
        params.append(since)
    if stream_id is not None:
        sql += " AND stream_id = ?"
        params.append(stream_id)
    seq = after_seq  # the last row read whole
    try:
        for seq, sid, version, recorded_at, body in conn.execute(sql + " ORDER BY seq", params):
            try:
                # Through the upcasters, so logs written by older versions audit too.
                event = decode_body((seq, sid, version, recorded_at, bytes(body)))
            except CorruptEventError as exc:
                raise AuditError(
                    f"{_file_of(conn)}: event at seq {seq} (stream {sid}) cannot be decoded: {exc}"
                ) from exc
            try:
                recorded = Recorded(int(seq), str(sid), int(version), float(recorded_at), event)
            except (TypeError, ValueError) as exc:  # a column edited through SQL
                raise AuditError(
                    f"{_file_of(conn)}: the row at seq {seq} (stream {sid}) has a column of the "
                    f"wrong type (version {version!r}, recorded_at {recorded_at!r}): {exc}"
                ) from exc
            yield recorded
    except sqlite3.DatabaseError as exc:  # a damaged page: SQLite cannot go on
        what = f"the events of stream {stream_id}" if stream_id is not None else "it"
        raise AuditError(
            f"{_file_of(conn)} is damaged: {what} cannot be read past seq {seq} ({exc}); "
            "`druid-orch audit verify` reports where the damage starts"
        ) from exc


def _file_of(conn: sqlite3.Connection) -> str:
    """The file `conn` reads, for messages (SQLite knows it without reading a page)."""
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2]) or "the event log"
    except sqlite3.Error:
        return "the event log"


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


def verify(db: str | Path) -> VerifyReport:
    """Check the hash chain, then replay every job stream; report the first problem."""
    chain_checked, chain = _chain_problem(db)
    conn = connect(db)
    try:
        try:
            problem, events, streams, jobs = replay_problem(records(conn))
        except AuditError as exc:
            problem, events, streams, jobs = Problem("decode", str(exc)), 0, 0, 0
    finally:
        conn.close()
    return VerifyReport(
        events=events,
        streams=streams,
        jobs=jobs,
        chain_checked=chain_checked,
        problem=chain or problem,
    )


def _chain_problem(db: str | Path) -> tuple[bool, Problem | None]:
    """The event-log room's chain verifier: (whether it ran, the first broken link)."""
    report = verify_file(str(db))
    if report.broken is None:
        return True, None
    link = report.broken
    return True, Problem(f"chain: {link.kind}", link.message, link.seq)


# --- history --------------------------------------------------------------------------------


def when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _tag(event: AnyEvent) -> str:
    return str(type(event).__struct_config__.tag)


def _facts(event: AnyEvent) -> str:
    fields = event_fields(event)
    fields.pop("type", None)
    fields.pop("at", None)
    fields.pop("report_excerpt", None)
    fields.pop("spec", None)
    if "spec_hash" in fields:
        fields["spec_hash"] = str(fields["spec_hash"])[:12]
    return "  ".join(f"{k}={v}" for k, v in fields.items() if v is not None and v != "")


def timeline(db: str | Path, job_id: str) -> list[Recorded]:
    conn = connect(db)
    try:
        history = list(records(conn, stream_id=JOB_PREFIX + job_id))
    finally:
        conn.close()
    if not history:
        raise AuditError(f"no job {job_id!r} in {db}")
    return history


def decision_after(history: list[Recorded], index: int) -> str:
    """What was decided about the failure classified at `history[index]`."""
    classified = history[index].event
    spared = isinstance(classified, FailureClassified) and not classified.counted
    for recorded in history[index + 1 : index + 3]:
        event = recorded.event
        if isinstance(event, RetryScheduled):
            note = " (this failure does not count against the attempts)" if spared else ""
            return f"retry as attempt {event.next_attempt} after {event.delay_s:.1f}s{note}"
        if isinstance(event, JobDied):
            return f"dead: {event.reason}"
    return "none recorded"


def render_timeline(history: list[Recorded]) -> list[str]:
    """The job's story, one line per event, with failures explained."""
    lines: list[str] = []
    for index, recorded in enumerate(history):
        event = recorded.event
        lines.append(f"{when(event.at)}  {_tag(event):<24} {_facts(event)}".rstrip())
        if isinstance(event, FailureClassified):
            lines.append(f"{'':26}rule: {event.rule} -> {event.classification}")
            for key, value in (event.report_excerpt or {}).items():
                text = str(value).strip().replace("\n", "\n" + " " * 30)
                lines.append(f"{'':26}evidence {key}: {text}")
            lines.append(f"{'':26}decision: {decision_after(history, index)}")
    return lines


# --- export and folding ---------------------------------------------------------------------


def export_lines(
    db: str | Path, *, since: float | None = None, after_seq: int = 0
) -> Iterator[bytes]:
    """Every event (from `since`, after `after_seq`) as one JSON line."""
    encoder = msgspec.json.Encoder()
    conn = connect(db)
    try:
        for recorded in records(conn, after_seq=after_seq, since=since):
            body = event_fields(recorded.event)
            yield encoder.encode(
                {
                    "seq": recorded.seq,
                    "stream_id": recorded.stream_id,
                    "version": recorded.version,
                    "recorded_at": recorded.recorded_at,
                    "event": body,
                }
            )
    finally:
        conn.close()


def job_states(db: str | Path) -> dict[str, JobState]:
    """Every job's state, folded from its stream (read-only, no Overlord needed)."""
    return jobs_and_pauses(db)[0]


def jobs_and_pauses(db: str | Path) -> tuple[dict[str, JobState], dict[str, str]]:
    """Every job's state, and the datasources whose breaker is open and why (as
    `Breakers.restore` finds them): what `status` shows, read in one pass over the log."""
    prefix = f"{BREAKER_PREFIX}datasource:"
    conn = connect(db)
    states: dict[str, JobState] = {}
    paused: dict[str, str] = {}
    try:
        for recorded in records(conn):
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
    finally:
        conn.close()
    return states, paused


def unreplayable(db: str | Path, recorded: Recorded, exc: InvalidTransitionError) -> AuditError:
    """The error for a job stream whose events do not fold (edited, or rows deleted)."""
    return AuditError(
        f"{db}: stream {recorded.stream_id} does not replay at seq {recorded.seq} "
        f"(version {recorded.version}): {exc}; the log was changed outside the orchestrator "
        "(`druid-orch audit verify` reports the first problem)"
    )
