"""`StreamFolder.fold_all` folds on the reader thread, a chunk per hop: the result must not
depend on the chunk size, a bad row must stop it with the seq, and other reads still get in."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from eventlog.errors import CorruptEventError
from eventlog.events import AnyEvent, StatusObserved
from eventlog.records import ANY_VERSION
from eventlog.replay import StreamFolder
from eventlog.store import EventLog
from tests.integration.test_eventlog_snapshots import Tally, folder, status, tally

STREAMS = ("job:a", "job:b", "other:c")


async def interleaved(log: EventLog, per_stream: int) -> None:
    for n in range(per_stream):
        for stream in STREAMS:
            await log.append(stream, [status(n)], ANY_VERSION)


@pytest.mark.parametrize("chunk", [1, 7, 30, 20_000])
async def test_the_result_does_not_depend_on_the_chunk_size(
    event_log: EventLog, chunk: int
) -> None:
    await interleaved(event_log, 10)
    states = await folder().fold_all(event_log, chunk=chunk)
    expected = Tally(10, ("PENDING", "RUNNING") * 5)
    assert states == dict.fromkeys(STREAMS, expected)
    for stream in STREAMS:  # the same as folding each stream on its own
        assert (await folder(snapshot_every=0).load(event_log, stream, save=False)).state == states[
            stream
        ]


async def test_prefix_and_after_seq_select_what_is_folded(event_log: EventLog) -> None:
    await interleaved(event_log, 4)
    only_jobs = await folder().fold_all(event_log, prefix="job:", chunk=5)
    assert set(only_jobs) == {"job:a", "job:b"}
    # seq 1..3 are the first event of each stream; after seq 3 each stream has 3 left.
    tail = await folder().fold_all(event_log, after_seq=3, chunk=2)
    assert {s: t.count for s, t in tail.items()} == dict.fromkeys(STREAMS, 3)


async def test_a_garbled_row_stops_the_fold_with_its_seq(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with EventLog(db) as log:
        await interleaved(log, 5)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")  # tampering, on purpose
        conn.execute("UPDATE events SET body = X'7b2274797065223a' WHERE seq = 8")
    async with EventLog(db) as log:
        with pytest.raises(CorruptEventError, match=r"seq 8"):
            await folder().fold_all(log, chunk=4)
        assert gc.isenabled(), "the collector is resumed after a failed fold"


async def test_an_error_of_the_fold_itself_reaches_the_caller(event_log: EventLog) -> None:
    await interleaved(event_log, 3)

    def picky(state: Tally, event: AnyEvent) -> Tally:
        if isinstance(event, StatusObserved) and event.at == 2.0:
            raise ValueError("no third event")
        return tally(state, event)

    broken = StreamFolder(initial=Tally, evolve=picky, state_type=Tally, schema_version=1)
    with pytest.raises(ValueError, match="no third event"):
        await broken.fold_all(event_log, chunk=2)
    assert gc.isenabled()


async def test_other_reads_get_in_between_chunks(event_log: EventLog) -> None:
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
