"""The values the event log hands out: stored events, append results and counters."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from eventlog.events import AnyEvent

ANY_VERSION = -1  # expected_version that skips the optimistic-concurrency check


class Recorded(msgspec.Struct, frozen=True):
    """One stored event with its place in the log."""

    seq: int
    stream_id: str
    version: int
    recorded_at: float
    event: AnyEvent


class StoredSnapshot(NamedTuple):
    """A stream's stored snapshot, as read back with the stream's current version."""

    version: int
    schema_version: int
    state: bytes
    stream_version: int  # the stream's current version, to spot a snapshot from the future

    def usable(self, schema_version: int) -> bool:
        """Of the wanted schema, and not ahead of the stream it claims to summarise."""
        return self.schema_version == schema_version and self.version <= self.stream_version


class AppendResult(msgspec.Struct, frozen=True):
    """Where an append landed: its first and last global seq and the stream's new version."""

    first_seq: int
    last_seq: int
    version: int


class WriterStats(msgspec.Struct, kw_only=True):
    """What the writer has done since the log was opened."""

    batches: int = 0
    appends: int = 0
    events: int = 0
    snapshots: int = 0
    conflicts: int = 0
    failed_batches: int = 0
    writer_restarts: int = 0  # writers lost and replaced
    batch_sizes: list[int] = msgspec.field(default_factory=list)

    def record_batch(self, events: int) -> None:
        self.batches += 1
        self.events += events
        if len(self.batch_sizes) < 100_000:  # enough for a benchmark, bounded for a daemon
            self.batch_sizes.append(events)


class WritesRefused(msgspec.Struct, frozen=True):
    """The log has been refusing commits (a full disk, a read-only file) since `since`."""

    since: float  # the log's clock at the first refused batch of this spell
    reason: str  # the latest refusal, as the error says it


class ReadStats(msgspec.Struct, kw_only=True):
    """Rows the readers have fetched since the log was opened (boot cost, in rows)."""

    queries: int = 0
    event_rows: int = 0
    snapshot_rows: int = 0
    stream_rows: int = 0

    @property
    def rows(self) -> int:
        return self.event_rows + self.snapshot_rows + self.stream_rows


def prefix_range(prefix: str) -> tuple[str, str | bytes]:
    """Bounds `(low, high)` such that `low <= id < high` in SQLite exactly when `id` starts
    with `prefix`: TEXT compares as UTF-8 bytes, which is code point order, so `high` is the
    prefix with its last character raised by one. A prefix of nothing but U+10FFFF has no
    such string; then `high` is an empty BLOB, which SQLite ranks above every TEXT."""
    head = prefix
    while head:
        last = ord(head[-1]) + 1
        if last <= 0x10FFFF:
            return prefix, head[:-1] + chr(0xE000 if last == 0xD800 else last)
        head = head[:-1]
    return prefix, b""
