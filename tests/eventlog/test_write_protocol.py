"""A writer's errors travel as data and are raised on the caller's side as they were."""

from __future__ import annotations

import pytest

from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogClosedError,
    EventLogError,
    EventLogUnavailableError,
    SchemaVersionError,
    StreamArchivedError,
)
from eventlog.writes.items import Archived, Conflict, error_of, failed


@pytest.mark.parametrize(
    "error",
    [
        EventLogUnavailableError("the event log x.db is full; retry"),
        CorruptEventError("x.db is truncated", seq=41),
        CorruptEventError("x.db is not ours"),
        SchemaVersionError("x.db was written by schema 9"),
        EventLogClosedError("closed"),
    ],
)
def test_a_writer_side_error_is_raised_on_the_loop_side_as_it_was(error: EventLogError) -> None:
    rebuilt = error_of(failed(error))
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    assert getattr(rebuilt, "seq", None) == getattr(error, "seq", None)


def test_conflicts_and_archived_streams_keep_their_fields() -> None:
    conflict = error_of(Conflict("job:a", 3, 5))
    assert isinstance(conflict, ConcurrencyConflictError)
    assert (conflict.stream_id, conflict.expected_version, conflict.actual_version) == (
        "job:a",
        3,
        5,
    )
    archived = error_of(Archived("job:b", 7, 1000.5))
    assert isinstance(archived, StreamArchivedError)
    assert (archived.stream_id, archived.version, archived.archived_at) == ("job:b", 7, 1000.5)


def test_an_unexpected_exception_becomes_a_plain_event_log_error() -> None:
    rebuilt = error_of(failed(RuntimeError("a bug")))
    assert type(rebuilt) is EventLogError
    assert "RuntimeError('a bug')" in str(rebuilt)
