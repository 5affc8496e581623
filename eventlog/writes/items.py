"""What an append asks of a writer and what the writer answers, in either backend.

`append_item` turns an `EventLog.append` call into an `AppendItem`: checked, its events
encoded, its summary drafted in the appending process, so that the writer (another process,
for SQLite) only plans and writes. Each item gets one outcome. Errors are carried as data
(`Failed`, `Conflict`, `Archived`), so that an item can cross a socket to the SQLite writer
process; `error_of` rebuilds the exception class and message the caller gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isfinite
from typing import Literal

import msgspec

from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
    StreamArchivedError,
)
from eventlog.events import Event, encode_event
from eventlog.summaries import JobSummary
from eventlog.writes.summary_rows import SummaryDraft, draft


class AppendItem(msgspec.Struct, frozen=True, array_like=True, tag=1):
    stream_id: str
    expected_version: int
    close_stream: bool
    events: list[tuple[str, bytes]]  # (tag, body), encoded by the caller
    reopen_stream: bool = False  # a closed stream live again (a retried job)
    # The job's summary after these events, written in the same transaction (the writer
    # stamps its position): plain data, since the writer may be another process.
    summary: SummaryDraft | None = None


class SnapshotItem(msgspec.Struct, frozen=True, array_like=True, tag=2):
    stream_id: str
    version: int
    schema_version: int
    state: bytes


Item = AppendItem | SnapshotItem


class Appended(msgspec.Struct, frozen=True, array_like=True, tag=1):
    first_seq: int
    last_seq: int
    version: int


class Done(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """A snapshot stored, or a control frame carried out."""


class Conflict(msgspec.Struct, frozen=True, array_like=True, tag=3):
    stream_id: str
    expected_version: int
    actual_version: int


class Archived(msgspec.Struct, frozen=True, array_like=True, tag=4):
    stream_id: str
    version: int
    archived_at: float


FailureKind = Literal["unavailable", "corrupt", "schema", "closed", "error"]


class Failed(msgspec.Struct, frozen=True, array_like=True, tag=5):
    kind: FailureKind
    message: str
    seq: int | None = None


Outcome = Appended | Done | Conflict | Archived | Failed


_KINDS: dict[type[BaseException], FailureKind] = {
    EventLogUnavailableError: "unavailable",
    CorruptEventError: "corrupt",
    SchemaVersionError: "schema",
    EventLogClosedError: "closed",
}


def failed(exc: BaseException) -> Failed:
    """An exception raised on the writer's side, as data."""
    kind: FailureKind = _KINDS.get(type(exc), "error")
    if isinstance(exc, CorruptEventError):
        return Failed(kind, exc.detail, exc.seq)
    return Failed(kind, str(exc) if isinstance(exc, EventLogError) else repr(exc))


def error_of(outcome: Conflict | Archived | Failed) -> EventLogError:
    """The exception a caller gets for an outcome that is not a success."""
    if type(outcome) is Conflict:
        return ConcurrencyConflictError(
            outcome.stream_id, outcome.expected_version, outcome.actual_version
        )
    if type(outcome) is Archived:
        return StreamArchivedError(outcome.stream_id, outcome.version, outcome.archived_at)
    assert type(outcome) is Failed
    if outcome.kind == "corrupt":
        return CorruptEventError(outcome.message, seq=outcome.seq)
    if outcome.kind == "unavailable":
        return EventLogUnavailableError(outcome.message)
    if outcome.kind == "schema":
        return SchemaVersionError(outcome.message)
    if outcome.kind == "closed":
        return EventLogClosedError(outcome.message)
    return EventLogError(outcome.message)


_CLASSES: dict[type, tuple[str, tuple[str, ...]]] = {}  # class -> (tag, float fields)


def append_item(
    stream_id: str,
    events: Sequence[Event],
    expected_version: int,
    close_stream: bool,
    reopen_stream: bool,
    summary: JobSummary | None,
) -> AppendItem:
    """An append as either backend's writer takes it: checked, encoded, its summary drafted
    in the appending process.

    Raises:
        ValueError: no events, or both close and reopen asked.
    """
    if not events:
        raise ValueError(f"append to {stream_id!r} needs at least one event")
    if close_stream and reopen_stream:
        raise ValueError(f"append to {stream_id!r} cannot both close and reopen it")
    return AppendItem(
        stream_id,
        expected_version,
        close_stream,
        [_encode(event) for event in events],
        reopen_stream,
        None if summary is None else draft(summary),
    )


def _encode(event: Event) -> tuple[str, bytes]:
    """The event's tag and stored bytes, refusing what would not decode back.

    JSON has no NaN or infinity: msgspec writes them as `null`, which a `float` field then
    refuses forever. A stored event is permanent, so such an event is refused here, before
    it can become an unreadable row.
    """
    cls = type(event)
    known = _CLASSES.get(cls)
    if known is None:
        if not isinstance(event, Event):
            raise TypeError(f"only Event instances can be appended, not {cls.__name__}")
        floats = tuple(
            f.name for f in msgspec.structs.fields(cls) if f.type in (float, float | None)
        )
        known = _CLASSES[cls] = (str(cls.__struct_config__.tag), floats)
    tag, floats = known
    for name in floats:
        value = getattr(event, name)
        if value is not None and not isfinite(value):
            raise ValueError(
                f"a {tag} event cannot be stored faithfully ({name}={value}): {event!r}"
            )
    return tag, encode_event(event)
