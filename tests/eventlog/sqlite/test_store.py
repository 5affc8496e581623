"""The event log's contract: group commit, optimistic concurrency, reads, subscriptions."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import msgspec
import pytest

from eventlog.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    EventLogClosedError,
)
from eventlog.events import JobAccepted, StatusObserved, TaskSucceeded, spec_dict, spec_raw
from eventlog.records import ANY_VERSION
from eventlog.sqlite.store import SQLiteEventLog


def observed(n: int, task: str = "t1") -> StatusObserved:
    return StatusObserved(at=float(n), task_id=task, runner_status="RUNNING", location=f"mm-{n}")


async def test_appends_get_consecutive_seqs_and_per_stream_versions(
    event_log: SQLiteEventLog,
) -> None:
    first = await event_log.append("job:a", [observed(1), observed(2)], expected_version=0)
    second = await event_log.append("job:b", [observed(3)], expected_version=0)
    third = await event_log.append("job:a", [observed(4)], expected_version=2)
    assert (first.first_seq, first.last_seq, first.version) == (1, 2, 2)
    assert (second.first_seq, second.last_seq, second.version) == (3, 3, 1)
    assert (third.first_seq, third.last_seq, third.version) == (4, 4, 3)
    stream = await event_log.read_stream("job:a")
    assert [(r.seq, r.version, r.event) for r in stream] == [
        (1, 1, observed(1)),
        (2, 2, observed(2)),
        (4, 3, observed(4)),
    ]
    assert [r.seq for r in await event_log.read_stream("job:a", after_version=2)] == [4]
    assert await event_log.last_seq() == 4


async def test_concurrent_appends_share_commits_and_every_future_resolves_after_its_commit(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "e.db") as log:
        results = await asyncio.gather(
            *(log.append(f"job:{i}", [observed(i)], expected_version=0) for i in range(300))
        )
        # Every acknowledged append is visible to a separate connection at once.
        conn = sqlite3.connect(tmp_path / "e.db")
        try:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            conn.close()
        assert stored == 300
        assert sorted(r.first_seq for r in results) == list(range(1, 301))
        assert log.stats.batches < 300, "appends that arrive together share a commit"
        assert log.stats.appends == log.stats.events == 300


async def test_a_conflicting_append_fails_alone_and_the_rest_of_its_batch_commits(
    event_log: SQLiteEventLog,
) -> None:
    await event_log.append("job:x", [observed(0)], expected_version=0)
    outcomes = await asyncio.gather(
        event_log.append("job:x", [observed(1)], expected_version=1),
        event_log.append("job:x", [observed(2)], expected_version=1),  # loses the race
        event_log.append("job:y", [observed(3)], expected_version=0),
        event_log.append("job:z", [observed(4)], expected_version=7),  # stale from the start
        return_exceptions=True,
    )
    assert outcomes[0].version == 2  # type: ignore[union-attr]
    assert isinstance(outcomes[1], ConcurrencyConflictError)
    assert (outcomes[1].expected_version, outcomes[1].actual_version) == (1, 2)
    assert "stream 'job:x' is at version 2, but the append expected version 1" in str(outcomes[1])
    assert outcomes[2].version == 1  # type: ignore[union-attr]
    assert isinstance(outcomes[3], ConcurrencyConflictError)
    assert outcomes[3].actual_version == 0
    assert [r.event for r in await event_log.read_stream("job:x")] == [observed(0), observed(1)]
    assert event_log.stats.conflicts == 2


async def test_any_version_skips_the_check(event_log: SQLiteEventLog) -> None:
    await event_log.append("breaker:overlord", [observed(1)], ANY_VERSION)
    result = await event_log.append("breaker:overlord", [observed(2)], ANY_VERSION)
    assert result.version == 2


async def test_read_all_walks_every_event_in_chunks_in_seq_order(event_log: SQLiteEventLog) -> None:
    for i in range(25):
        await event_log.append(f"job:{i % 3}", [observed(i)], ANY_VERSION)
    seen = [r.seq async for r in event_log.read_all(chunk=4)]
    assert seen == list(range(1, 26))
    assert [r.seq async for r in event_log.read_all(after_seq=20, chunk=4)] == [21, 22, 23, 24, 25]
    # The reader asked for at most two chunks ahead, never the whole log.
    assert event_log.read_stats.queries >= 25 // 4


async def test_leaving_read_all_early_leaves_nothing_running(event_log: SQLiteEventLog) -> None:
    for i in range(10):
        await event_log.append("job:a", [observed(i)], ANY_VERSION)
    gen = event_log.read_all(chunk=2)
    async for recorded in gen:
        if recorded.seq == 3:
            break
    await gen.aclose()
    assert [r.seq for r in await event_log.read_stream("job:a", after_version=8)] == [9, 10]


async def test_a_subscription_delivers_history_then_new_events_as_they_commit(
    event_log: SQLiteEventLog,
) -> None:
    await event_log.append("job:a", [observed(1)], 0)
    received: list[int] = []
    three = asyncio.Event()

    async def follow() -> None:
        async for recorded in event_log.subscribe():
            received.append(recorded.seq)
            if len(received) == 3:
                three.set()
                return

    follower = asyncio.create_task(follow())
    await event_log.append("job:b", [observed(2)], 0)
    await event_log.append("job:a", [observed(3)], 1)
    await asyncio.wait_for(three.wait(), 5)
    await follower
    assert received == [1, 2, 3]


async def test_a_subscription_ends_when_the_log_closes(tmp_path: Path) -> None:
    log = await SQLiteEventLog.open(tmp_path / "e.db")
    await log.append("job:a", [observed(1)], 0)
    seen: list[int] = []
    caught_up = asyncio.Event()

    async def follow() -> None:
        async for recorded in log.subscribe():
            seen.append(recorded.seq)
            if recorded.seq == 2:
                caught_up.set()

    follower = asyncio.create_task(follow())
    await log.append("job:a", [observed(2)], 1)
    await asyncio.wait_for(caught_up.wait(), 5)  # the follower now waits for the next commit
    await log.close()
    await asyncio.wait_for(follower, 5)
    assert seen == [1, 2]


async def test_closing_commits_what_is_queued_and_then_refuses_appends(tmp_path: Path) -> None:
    log = await SQLiteEventLog.open(tmp_path / "e.db")
    pending = [asyncio.ensure_future(log.append(f"job:{i}", [observed(i)], 0)) for i in range(50)]
    await asyncio.sleep(0)  # let the appends reach the queue
    await log.close()
    assert all(p.done() and not p.cancelled() and p.exception() is None for p in pending)
    with pytest.raises(EventLogClosedError, match="is closed"):
        await log.append("job:late", [observed(0)], 0)
    async with SQLiteEventLog(tmp_path / "e.db") as reopened:
        assert await reopened.last_seq() == 50


async def test_closing_streams_hides_them_from_boot_but_not_from_reads(
    event_log: SQLiteEventLog,
) -> None:
    await event_log.append("job:done", [observed(1)], 0)
    await event_log.append(
        "job:done", [TaskSucceeded(at=2.0, task_id="t1", duration_ms=5)], 1, close_stream=True
    )
    await event_log.append("job:live", [observed(3)], 0)
    await event_log.append("job:live", [observed(4)], 1)
    assert await event_log.open_streams("job:") == [("job:live", 2)]
    assert await event_log.all_streams("job:") == [("job:done", 2, True), ("job:live", 2, False)]
    assert len(await event_log.read_stream("job:done")) == 2


async def test_a_closed_stream_can_be_opened_again_and_boot_lists_it_once_more(
    event_log: SQLiteEventLog,
) -> None:
    # A retried job: its stream was closed when it died, and must be live again for boot
    # and for retention, which archives closed streams only.
    done = TaskSucceeded(at=2.0, task_id="t1", duration_ms=5)
    await event_log.append("job:a", [observed(1)], 0, close_stream=True)
    await event_log.append("job:a", [observed(2)], 1, reopen_stream=True)
    assert await event_log.open_streams("job:") == [("job:a", 2)]
    await event_log.append("job:a", [done], 2, close_stream=True)
    assert await event_log.open_streams("job:") == []
    # In one batch, what the last append says wins: reopened, then closed again.
    both = [
        asyncio.ensure_future(event_log.append("job:a", [observed(4)], 3, reopen_stream=True)),
        asyncio.ensure_future(event_log.append("job:a", [done], 4, close_stream=True)),
    ]
    await asyncio.gather(*both)
    assert await event_log.all_streams("job:") == [("job:a", 5, True)]
    # Reopening a stream that is new just creates it, open; in one batch too.
    await event_log.append("job:b", [observed(1)], 0, reopen_stream=True)
    assert await event_log.open_streams("job:") == [("job:b", 1)]
    created_then_reopened = [
        asyncio.ensure_future(event_log.append("job:c", [observed(1)], 0)),
        asyncio.ensure_future(event_log.append("job:c", [observed(2)], 1, reopen_stream=True)),
    ]
    await asyncio.gather(*created_then_reopened)
    assert await event_log.open_streams("job:") == [("job:b", 1), ("job:c", 2)]
    with pytest.raises(ValueError, match="cannot both close and reopen"):
        await event_log.append("job:b", [observed(2)], 1, close_stream=True, reopen_stream=True)


async def test_an_append_with_no_events_or_a_non_event_is_refused_before_it_is_queued(
    event_log: SQLiteEventLog,
) -> None:
    with pytest.raises(ValueError, match="needs at least one event"):
        await event_log.append("job:a", [], 0)
    with pytest.raises(TypeError, match="only Event instances"):
        await event_log.append("job:a", [{"type": "job_accepted"}], 0)  # type: ignore[list-item]
    assert await event_log.last_seq() == 0


@pytest.mark.parametrize("at", [float("nan"), float("inf")])
async def test_an_event_json_cannot_carry_faithfully_is_refused_before_it_is_stored(
    event_log: SQLiteEventLog, at: float
) -> None:
    with pytest.raises(ValueError, match="cannot be stored faithfully"):
        await event_log.append(
            "job:a", [observed(1), msgspec.structs.replace(observed(2), at=at)], 0
        )
    assert await event_log.last_seq() == 0


async def test_a_stored_body_that_does_not_decode_is_reported_with_its_seq(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db) as log:
        await log.append("job:a", [observed(1), observed(2)], 0)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET body = ? WHERE seq = 2", (b'{"type":"no_such_event"}',))
    conn.commit()
    conn.close()
    async with SQLiteEventLog(db) as log:
        with pytest.raises(CorruptEventError, match="at seq 2") as caught:
            await log.read_stream("job:a")
        assert caught.value.seq == 2


async def test_an_accepted_job_round_trips_through_the_log(event_log: SQLiteEventLog) -> None:
    accepted = JobAccepted(
        at=1.5,
        job_id="j",
        datasource="wiki",
        interval="2024-01-01/P1D",
        spec=spec_raw({"type": "index_parallel", "nested": {"list": [1, 2.5, None]}}),
        spec_hash="sha256:x",
    )
    await event_log.append("job:j", [accepted], 0)
    [recorded] = await event_log.read_stream("job:j")
    assert recorded.event == accepted
    assert isinstance(recorded.event, JobAccepted)
    assert spec_dict(recorded.event.spec) == {
        "type": "index_parallel",
        "nested": {"list": [1, 2.5, None]},
    }
    assert recorded.recorded_at > 0
