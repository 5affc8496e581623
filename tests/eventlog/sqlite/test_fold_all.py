"""`StreamFolder.fold_all` folds on a thread of its own while the reader thread reads the next
chunk (`eventlog.sqlite.bulk_fold`): the result must not depend on the chunk size, a bad row must
stop it with the seq, other reads still get in, and closing or cancelling stops it."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from eventlog.errors import CorruptEventError, EventLogClosedError
from eventlog.events import AnyEvent, StatusObserved
from eventlog.records import ANY_VERSION
from eventlog.replay import StreamFolder
from eventlog.sqlite import bulk_fold
from eventlog.sqlite.store import SQLiteEventLog
from tests.eventlog.test_snapshots import Tally, folder, status, tally
from tests.service.processes import eventually

STREAMS = ("job:a", "job:b", "other:c")


async def interleaved(log: SQLiteEventLog, per_stream: int) -> None:
    for n in range(per_stream):
        for stream in STREAMS:
            await log.append(stream, [status(n)], ANY_VERSION)


@pytest.mark.parametrize("chunk", [1, 7, 30, 20_000])
async def test_the_result_does_not_depend_on_the_chunk_size(
    event_log: SQLiteEventLog, chunk: int
) -> None:
    await interleaved(event_log, 10)
    states = await folder().fold_all(event_log, chunk=chunk)
    expected = Tally(10, ("PENDING", "RUNNING") * 5)
    assert states == dict.fromkeys(STREAMS, expected)
    for stream in STREAMS:  # the same as folding each stream on its own
        assert (await folder(snapshot_every=0).load(event_log, stream, save=False)).state == states[
            stream
        ]


async def test_prefix_and_after_seq_select_what_is_folded(event_log: SQLiteEventLog) -> None:
    await interleaved(event_log, 4)
    only_jobs = await folder().fold_all(event_log, prefix="job:", chunk=5)
    assert set(only_jobs) == {"job:a", "job:b"}
    # seq 1..3 are the first event of each stream; after seq 3 each stream has 3 left.
    tail = await folder().fold_all(event_log, after_seq=3, chunk=2)
    assert {s: t.count for s, t in tail.items()} == dict.fromkeys(STREAMS, 3)


async def test_a_garbled_row_stops_the_fold_with_its_seq(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with SQLiteEventLog(db) as log:
        await interleaved(log, 5)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")  # tampering, on purpose
        conn.execute("UPDATE events SET body = X'7b2274797065223a' WHERE seq = 8")
    async with SQLiteEventLog(db) as log:
        with pytest.raises(CorruptEventError, match=r"seq 8"):
            await folder().fold_all(log, chunk=4)
        assert gc.isenabled(), "the collector is resumed after a failed fold"


async def test_a_body_that_would_spill_into_its_neighbours_place_is_caught_with_its_seq(
    tmp_path: Path,
) -> None:
    # Valid JSON inside a chunk's array, two events where the row holds one: the chunk's
    # counts disagree, so it is read again row by row, where the body is refused.
    db = tmp_path / "events.db"
    async with SQLiteEventLog(db) as log:
        await interleaved(log, 5)
    spill = b'{"type":"status_observed","at":1.0,"task_id":"t","runner_status":"RUNNING"}'
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")  # tampering, on purpose
        conn.execute("UPDATE events SET body = ? WHERE seq = 6", (spill + b"," + spill,))
    async with SQLiteEventLog(db) as log:
        with pytest.raises(CorruptEventError, match=r"seq 6"):
            await folder().fold_all(log, chunk=4)


def test_a_chunk_out_of_seq_order_is_not_folded_as_it_came() -> None:
    # SQLite does not promise group_concat's order; a chunk whose seqs are not ascending must
    # go back to the row-by-row read rather than be folded in the wrong order.
    body = b'{"type":"status_observed","at":1.0,"task_id":"t","runner_status":"RUNNING"}'
    chunk = bulk_fold.Chunk(2, 5, b"[5,4]", b'["a","a"]', b"[" + body + b"," + body + b"]")
    folded: list[str] = []
    assert not bulk_fold._fold_chunk(chunk, lambda streams, _events: folded.extend(streams))
    assert folded == []
    in_order = chunk._replace(seqs=b"[4,5]")
    assert bulk_fold._fold_chunk(in_order, lambda streams, _events: folded.extend(streams))
    assert folded == ["a", "a"]


class Held:
    """A fold whose every step waits for `release`, counting its steps."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def folder(self) -> StreamFolder[Tally]:
        def held(state: Tally, event: AnyEvent) -> Tally:
            self.calls += 1
            self.started.set()
            self.release.wait(5)
            return tally(state, event)

        return StreamFolder(initial=Tally, evolve=held, state_type=Tally, schema_version=1)


async def test_closing_the_log_stops_a_fold_with_a_closed_error(tmp_path: Path) -> None:
    log = await SQLiteEventLog.open(tmp_path / "events.db", writer="thread")
    await interleaved(log, 20)
    held = Held()
    fold = asyncio.create_task(held.folder().fold_all(log, chunk=3))
    await asyncio.to_thread(held.started.wait, 5)
    await log.close()  # the fold's next read finds the reader gone
    held.release.set()
    with pytest.raises(EventLogClosedError):
        await fold


async def test_a_fold_read_queued_behind_the_close_is_refused_as_closed(tmp_path: Path) -> None:
    # The fold thread submits its reads itself, so one can land on the reader's queue after
    # the close of its connection: it must say "closed", not report a damaged file.
    log = await SQLiteEventLog.open(tmp_path / "events.db", writer="thread")
    await interleaved(log, 20)
    held, gate = Held(), threading.Event()
    fold = asyncio.create_task(held.folder().fold_all(log, chunk=3))
    await asyncio.to_thread(held.started.wait, 5)
    assert log._rx is not None
    queue = log._rx._work_queue  # type: ignore[attr-defined]
    # The fold queued its read of the next chunk before folding this one; let it run first,
    # or on a busy host it could still be queued when the close arrives, and be refused.
    await log._call(lambda _conn: None)
    blocker = log._call(lambda _conn: gate.wait(5))  # the reader thread waits on `gate`
    closing = asyncio.create_task(log.close())  # queues the connection's close behind it
    await eventually(lambda: queue.qsize() == 1, timeout=5)
    held.release.set()  # the fold finishes its chunk and queues a read behind the close
    await eventually(lambda: queue.qsize() == 2, timeout=5)
    gate.set()
    await blocker
    await closing
    with pytest.raises(EventLogClosedError):
        await fold


async def test_cancelling_a_fold_stops_it_at_the_next_chunk(event_log: SQLiteEventLog) -> None:
    await interleaved(event_log, 20)  # 60 events
    held = Held()
    fold = asyncio.create_task(held.folder().fold_all(event_log, chunk=5))
    await asyncio.to_thread(held.started.wait, 5)
    fold.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fold  # returns at once: the fold thread is still held in its first chunk
    held.release.set()
    await asyncio.sleep(0.2)  # the fold thread finishes that chunk and stops at the next
    assert held.calls <= 5, "the fold thread went on past the chunk it was folding"
    assert len(await event_log.read_stream("job:a")) == 20  # the log still answers


async def test_an_error_of_the_fold_itself_reaches_the_caller(event_log: SQLiteEventLog) -> None:
    await interleaved(event_log, 3)

    def picky(state: Tally, event: AnyEvent) -> Tally:
        if isinstance(event, StatusObserved) and event.at == 2.0:
            raise ValueError("no third event")
        return tally(state, event)

    broken = StreamFolder(initial=Tally, evolve=picky, state_type=Tally, schema_version=1)
    with pytest.raises(ValueError, match="no third event"):
        await broken.fold_all(event_log, chunk=2)
    assert gc.isenabled()


async def test_other_reads_get_in_between_chunks(event_log: SQLiteEventLog) -> None:
    await interleaved(event_log, 40)
    loop = asyncio.get_running_loop()
    folding = asyncio.Event()
    read_queued, release = threading.Event(), threading.Event()
    calls = 0

    def gated(state: Tally, event: AnyEvent) -> Tally:
        nonlocal calls
        calls += 1
        if calls == 1:  # first chunk: hold it until the test's read is queued behind it
            loop.call_soon_threadsafe(folding.set)
            read_queued.wait(5)
        if calls == 11:  # second chunk: hold it until the test has its answer
            release.wait(5)
        return tally(state, event)

    gated_folder = StreamFolder(initial=Tally, evolve=gated, state_type=Tally, schema_version=1)
    fold = asyncio.create_task(gated_folder.fold_all(event_log, chunk=10))
    await folding.wait()
    read = asyncio.create_task(event_log.read_stream("job:a"))
    await asyncio.sleep(0)  # the read is now queued on the reader thread
    read_queued.set()
    try:
        assert len(await asyncio.wait_for(read, timeout=5)) == 40
        assert not fold.done(), "the read was answered between two chunks of the fold"
    finally:
        release.set()
    assert (await fold)["job:a"].count == 40
