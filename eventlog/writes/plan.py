"""What one batch will write, decided before anything is written.

`plan_batch` is pure: given the writer's view of the log's tip (head seq and hash, stream
versions) and the archived streams among the batch's, it checks each append's expected
version and gives its events their seq, version and chain hash. The write connection then
writes the plan in one transaction, and adopts its tip only once COMMIT has returned.

Before planning, a writer looks up the streams its cache of versions lacks
(`streams_to_look_up`) and caches what it found (`cache_looked_up`); only the query is
each backend's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from hashlib import sha256

from eventlog.records import ANY_VERSION
from eventlog.writes.items import (
    Appended,
    AppendItem,
    Archived,
    Conflict,
    Done,
    Item,
    Outcome,
    SnapshotItem,
)
from eventlog.writes.summary_rows import Row as SummaryRow
from eventlog.writes.summary_rows import row_of

EventRow = tuple[int, str, int, str, bytes, float, bytes]  # seq .. recorded_at, hash
SnapshotRow = tuple[str, int, int, bytes, float]


# The writer's cache of stream versions is dropped past this many streams: a cheap bound,
# since a miss costs a share of one query.
MAX_CACHED_STREAMS = 200_000


def streams_to_look_up(items: Sequence[Item], versions: dict[str, int]) -> list[str]:
    """The batch's appended streams whose versions the writer's cache `versions` lacks
    (the cache is dropped first if it has grown past its bound).

    Streams to reopen are looked up even when cached: retention (on another connection) may
    have archived a closed stream since, and a reopen must not bring it back.
    """
    if len(versions) > MAX_CACHED_STREAMS:
        versions.clear()
    return list(
        {
            i.stream_id
            for i in items
            if type(i) is AppendItem and (i.stream_id not in versions or i.reopen_stream)
        }
    )


def cache_looked_up(
    versions: dict[str, int],
    streams: Iterable[str],
    found: Mapping[str, tuple[int, float | None]],
) -> dict[str, Archived]:
    """Cache in `versions` what a look-up of `streams` found (`found`: version and
    archived_at; a stream not found is new, at version 0). Returns the archived ones, which
    are not cached: they take no appends, and one cached before retention archived it is
    dropped."""
    archived: dict[str, Archived] = {}
    for sid in streams:
        version, archived_at = found.get(sid, (0, None))
        if archived_at is not None:
            archived[sid] = Archived(sid, version, float(archived_at))
            versions.pop(sid, None)
        else:
            versions[sid] = version
    return archived


class StreamChange(Enum):
    """How a stream's row in `streams` changes with the batch."""

    CREATED = "created"  # a new stream: its row is inserted, open
    CLOSED = "closed"  # the stream reached a terminal state: its row is closed
    REOPENED = "reopened"  # a closed stream is live again: its row goes back to open


@dataclass(slots=True)
class BatchPlan:
    """The outcome of each item, in order, and the rows that make those outcomes true."""

    outcomes: list[Outcome]
    head_seq: int  # the tip once the batch is committed
    head_hash: bytes
    events: list[EventRow] = field(default_factory=list)
    snapshots: list[SnapshotRow] = field(default_factory=list)
    streams: dict[str, StreamChange] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)  # appended streams' new versions
    # The job summaries to upsert, the last of each stream's appends in the batch.
    summaries: dict[str, SummaryRow] = field(default_factory=dict)
    # Items refused only because an earlier append of this batch moved their stream on:
    # if the batch fails, that append did not happen, and neither did their conflict.
    provisional: list[int] = field(default_factory=list)


def plan_batch(
    items: Sequence[Item],
    versions: Mapping[str, int],
    archived: Mapping[str, Archived],
    head_seq: int,
    head_hash: bytes,
    now: float,
) -> BatchPlan:
    """Plan the batch `items` on a log whose tip is `head_seq`/`head_hash`.

    Args:
        items: the batch's appends and snapshots, in arrival order.
        versions: the current version of every appended stream that is not archived.
        archived: the batch's archived streams, with the outcome an append to them gets.
        head_seq: the newest event's seq.
        head_hash: the newest event's chain hash.
        now: stamps the events (`recorded_at`) and the rows the batch writes.
    """
    done = Done()
    plan = BatchPlan([done] * len(items), head_seq, head_hash)
    outcomes, rows, touched, tentative = plan.outcomes, plan.events, plan.streams, plan.versions
    seq, prev = head_seq, head_hash
    at = repr(now)
    for index, item in enumerate(items):
        if type(item) is SnapshotItem:
            plan.snapshots.append(
                (item.stream_id, item.version, item.schema_version, item.state, now)
            )
            continue
        assert type(item) is AppendItem
        sid = item.stream_id
        current = tentative.get(sid)
        if current is None:
            current = versions.get(sid)
            if current is None:
                outcomes[index] = archived[sid]
                continue
        if item.expected_version not in (ANY_VERSION, current):
            outcomes[index] = Conflict(sid, item.expected_version, current)
            if sid in tentative:
                plan.provisional.append(index)
            continue
        if current == 0:
            touched[sid] = StreamChange.CREATED
        elif item.reopen_stream and touched.get(sid) is not StreamChange.CREATED:
            # Not one this batch creates: its row is written by the upsert, open.
            touched[sid] = StreamChange.REOPENED
        first = seq + 1
        for tag, body in item.events:
            seq += 1
            current += 1
            # chain_hash(prev, seq, sid, current, tag, now, body), inlined: this loop is the
            # writer's hottest Python.
            prev = sha256(
                prev + f"{seq}\x1f{sid}\x1f{current}\x1f{tag}\x1f{at}\x1f".encode() + body
            ).digest()
            rows.append((seq, sid, current, tag, body, now, prev))
        tentative[sid] = current
        if item.summary is not None:
            plan.summaries[sid] = row_of(sid, item.summary, seq, now)
        if item.close_stream:
            touched[sid] = StreamChange.CLOSED
        outcomes[index] = Appended(first, seq, current)
    plan.head_seq, plan.head_hash = seq, prev
    return plan
