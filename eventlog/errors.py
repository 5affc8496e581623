"""Errors raised by the event log.

Each class says who is at fault and whether retrying can help (`retryable`), so callers
(the supervisor, the CLI) can decide without parsing messages.
"""

from __future__ import annotations

from typing import ClassVar


class EventLogError(Exception):
    """Base class of every event-log error."""

    retryable: ClassVar[bool] = False


class ConcurrencyConflictError(EventLogError):
    """An append expected a stream version that another append already took."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream_id!r} is at version {actual_version}, "
            f"but the append expected version {expected_version}"
        )


class CorruptEventError(EventLogError):
    """A stored row cannot be decoded, or the database file is not ours or is damaged."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        self.detail = message
        self.seq = seq
        where = f" at seq {seq}" if seq is not None else ""
        super().__init__(f"{message}{where}")


class SchemaVersionError(EventLogError):
    """The database file was written by a newer (or unknown) version of druid-orchestrator."""


class EventLogUnavailableError(EventLogError):
    """The database refused a write (disk full, read-only file, lock timeout); retry later."""

    retryable: ClassVar[bool] = True


class WriterLostError(EventLogError):
    """The writer stopped (killed, crashed) while this write waited for it.

    The write may or may not have been committed. Retrying it with the same expected
    version is safe: if it was committed, the retry fails with `ConcurrencyConflictError`.
    The log starts a new writer for later writes.
    """

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, how: str) -> None:
        self.how = how  # how the writer ended
        super().__init__(message)


class EventLogClosedError(EventLogError):
    """The log was closed while an append was waiting for its commit."""


class StreamArchivedError(EventLogError):
    """An append named a stream that retention has archived; its events live in an archive."""

    def __init__(self, stream_id: str, version: int, archived_at: float) -> None:
        self.stream_id = stream_id
        self.version = version
        self.archived_at = archived_at
        super().__init__(
            f"stream {stream_id!r} was archived at {archived_at} after version {version}; "
            "its id cannot take new events"
        )


class UnreadableLogError(EventLogError):
    """A log file read offline (an audit, `status --db`) is missing, not a log, or damaged.

    The message names the file and what is wrong with it, for a person to act on.
    """


class SummariesNotBuiltError(EventLogError):
    """The job summaries of a log migrated from before they existed are not built yet: the
    orchestrator's next boot, or `druid-orch audit rebuild-summaries`, builds them."""

    retryable: ClassVar[bool] = True
