"""The batch plan as a pure function: version checks, numbering, chain hashes, stream rows."""

from __future__ import annotations

from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.records import ANY_VERSION
from eventlog.writes.items import Appended, AppendItem, Archived, Conflict, Done, SnapshotItem
from eventlog.writes.plan import (
    StreamChange,
    cache_looked_up,
    plan_batch,
    streams_to_look_up,
)

NOW = 1_700_000_000.5


def append(
    sid: str, expected: int, n: int = 1, *, close: bool = False, reopen: bool = False
) -> AppendItem:
    events = [("status_observed", f'{{"n":{i}}}'.encode()) for i in range(n)]
    return AppendItem(sid, expected, close, events, reopen)


def test_appends_are_numbered_in_order_and_chained_from_the_head() -> None:
    head = chain_hash(GENESIS_HASH, 7, "job:x", 1, "t", 1.0, b"{}")
    plan = plan_batch(
        [append("job:a", 0, 2), append("job:b", 3)], {"job:a": 0, "job:b": 3}, {}, 7, head, NOW
    )
    assert plan.outcomes == [Appended(8, 9, 2), Appended(10, 10, 4)]
    assert [(r[0], r[1], r[2]) for r in plan.events] == [
        (8, "job:a", 1),
        (9, "job:a", 2),
        (10, "job:b", 4),
    ]
    expected = head
    for seq, sid, version, tag, body, at, hash_ in plan.events:
        expected = chain_hash(expected, seq, sid, version, tag, at, body)
        assert hash_ == expected
    assert (plan.head_seq, plan.head_hash) == (10, expected)
    assert plan.versions == {"job:a": 2, "job:b": 4}
    assert plan.streams == {"job:a": StreamChange.CREATED}


def test_a_conflict_caused_by_the_same_batch_is_provisional_and_one_from_before_is_not() -> None:
    plan = plan_batch(
        [append("job:a", 0), append("job:a", 0), append("job:b", 1)],
        {"job:a": 0, "job:b": 2},
        {},
        0,
        GENESIS_HASH,
        NOW,
    )
    assert plan.outcomes[1:] == [Conflict("job:a", 0, 1), Conflict("job:b", 1, 2)]
    assert plan.provisional == [1]
    assert plan.head_seq == 1


def test_closing_reopening_archived_streams_and_snapshots() -> None:
    gone = Archived("job:old", 5, 99.0)
    snapshot = SnapshotItem("job:c", 3, 1, b"state")
    plan = plan_batch(
        [
            append("job:c", ANY_VERSION, close=True),
            append("job:d", 4, reopen=True),
            append("job:old", 5),
            snapshot,
        ],
        {"job:c": 3, "job:d": 4},
        {"job:old": gone},
        10,
        GENESIS_HASH,
        NOW,
    )
    assert plan.outcomes == [Appended(11, 11, 4), Appended(12, 12, 5), gone, Done()]
    assert plan.streams == {"job:c": StreamChange.CLOSED, "job:d": StreamChange.REOPENED}
    assert plan.snapshots == [("job:c", 3, 1, b"state", NOW)]


def test_streams_the_cache_lacks_are_looked_up_and_so_is_a_cached_one_being_reopened() -> None:
    items = [
        append("job:cached", 3),
        append("job:new", 0),
        append("job:new", 1),
        append("job:back", 5, reopen=True),
        SnapshotItem("job:snap", 1, 1, b"{}"),
    ]
    wanted = streams_to_look_up(items, {"job:cached": 3, "job:back": 5})
    assert sorted(wanted) == ["job:back", "job:new"]


def test_a_looked_up_archived_stream_leaves_the_cache_and_a_missing_one_is_new() -> None:
    versions = {"job:gone": 4}
    archived = cache_looked_up(
        versions, ["job:gone", "job:new", "job:old"], {"job:gone": (4, 99.0), "job:old": (7, None)}
    )
    assert archived == {"job:gone": Archived("job:gone", 4, 99.0)}
    assert versions == {"job:new": 0, "job:old": 7}
