"""Snapshots speed up replay and never change its result: stale, unreadable or impossible
snapshots are ignored and rebuilt, and boot reads only the live streams' tails."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from eventlog.errors import EventLogUnavailableError
from eventlog.events import AnyEvent, StatusObserved, TaskSucceeded
from eventlog.records import ANY_VERSION
from eventlog.replay import StreamFolder
from eventlog.sqlite.store import SQLiteEventLog
from tests.support import FILL_LAST_PAGES, fill_until_refused, quota_with_room


class Tally(msgspec.Struct, frozen=True):
    """A small fold: how many events, and the runner statuses seen, in order."""

    count: int = 0
    statuses: tuple[str, ...] = ()


def tally(state: Tally, event: AnyEvent) -> Tally:
    status = event.runner_status if isinstance(event, StatusObserved) else type(event).__name__
    return Tally(state.count + 1, (*state.statuses, status))


def folder(schema_version: int = 1, snapshot_every: int = 4) -> StreamFolder[Tally]:
    return StreamFolder(
        initial=Tally,
        evolve=tally,
        state_type=Tally,
        schema_version=schema_version,
        snapshot_every=snapshot_every,
    )


def status(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id="t", runner_status=("PENDING", "RUNNING")[n % 2])


async def fill(log: SQLiteEventLog, stream: str, count: int) -> None:
    for n in range(count):
        await log.append(stream, [status(n)], ANY_VERSION)


async def test_a_current_snapshot_is_used_and_only_the_tail_is_read(
    event_log: SQLiteEventLog,
) -> None:
    await fill(event_log, "job:a", 10)
    first = await folder().load(event_log, "job:a")
    assert (first.source, first.events_read, first.snapshot_written) == ("events", 10, True)
    await fill(event_log, "job:a", 2)
    second = await folder().load(event_log, "job:a")
    assert (second.source, second.events_read, second.version) == ("snapshot", 2, 12)
    assert second.state == (await folder().fold_all(event_log))["job:a"]


async def test_a_snapshot_of_a_stale_schema_is_ignored_and_rebuilt_from_events(
    event_log: SQLiteEventLog,
) -> None:
    await fill(event_log, "job:a", 6)
    await event_log.save_snapshot("job:a", 6, 1, msgspec.msgpack.encode(Tally(99, ("OLD",))))
    assert await event_log.load_snapshot("job:a", 2) is None
    loaded = await folder(schema_version=2).load(event_log, "job:a")
    assert loaded.source == "events"
    assert loaded.state == Tally(6, ("PENDING", "RUNNING") * 3)
    assert loaded.snapshot_written, "the stale snapshot is replaced"
    assert await event_log.load_snapshot("job:a", 2) == (6, msgspec.msgpack.encode(loaded.state))
    again = await folder(schema_version=2).load(event_log, "job:a")
    assert (again.source, again.events_read, again.state) == ("snapshot", 0, loaded.state)


async def test_an_unreadable_snapshot_is_ignored_and_rebuilt_from_events(
    event_log: SQLiteEventLog,
) -> None:
    await fill(event_log, "job:a", 5)
    await event_log.save_snapshot("job:a", 3, 1, b"\xc1 not msgpack")
    loaded = await folder().load(event_log, "job:a")
    assert (loaded.source, loaded.events_read, loaded.state.count) == ("events", 5, 5)
    assert loaded.snapshot_written


async def test_a_snapshot_ahead_of_its_stream_is_not_trusted(event_log: SQLiteEventLog) -> None:
    await fill(event_log, "job:a", 3)
    await event_log.save_snapshot("job:a", 40, 1, msgspec.msgpack.encode(Tally(40)))
    assert await event_log.load_snapshot("job:a", 1) is None
    loaded = await folder().load(event_log, "job:a")
    assert (loaded.source, loaded.state.count, loaded.version) == ("events", 3, 3)


async def test_dropping_every_snapshot_changes_nothing_but_the_rows_read(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db) as log:
        for stream in ("job:a", "job:b", "job:c"):
            await fill(log, stream, 9)
        with_snapshots = await folder().load_open(log, "job:")
        assert {s: x.state for s, x in (await folder().load_open(log, "job:")).items()} == {
            s: x.state for s, x in with_snapshots.items()
        }
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM snapshots")
    conn.commit()
    conn.close()
    async with SQLiteEventLog(db) as log:
        rebuilt = await folder().load_open(log, "job:", save=False)
    assert {s: x.state for s, x in rebuilt.items()} == {
        s: x.state for s, x in with_snapshots.items()
    }
    assert all(x.source == "events" for x in rebuilt.values())


async def test_a_snapshot_is_on_disk_when_save_snapshot_returns(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db) as log:
        await fill(log, "job:a", 2)
        await log.save_snapshot("job:a", 2, 7, b"state")
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT version, schema_version, state FROM snapshots").fetchone()
        finally:
            conn.close()
    assert row == (2, 7, b"state")


@pytest.mark.parametrize("finished", [200])
async def test_boot_reads_only_live_streams_and_their_tails(tmp_path: Path, finished: int) -> None:
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db) as log:
        for n in range(finished):
            await log.append(f"job:done-{n:04d}", [status(1), status(2)], 0)
            await log.append(
                f"job:done-{n:04d}",
                [TaskSucceeded(at=3.0, task_id="t", duration_ms=1)],
                2,
                close_stream=True,
            )
        for n in range(3):
            await fill(log, f"job:live-{n}", 10)
            await folder().load(log, f"job:live-{n}")  # leaves a snapshot at version 10
            await fill(log, f"job:live-{n}", 2)
    async with SQLiteEventLog(db) as log:
        booted = await folder().load_open(log, "job:", save=False)
        read = log.read_stats
    assert sorted(booted) == ["job:live-0", "job:live-1", "job:live-2"]
    assert all(x.source == "snapshot" and x.events_read == 2 for x in booted.values())
    # 3 stream rows, 3 snapshots, 3 x 2 tail events: nothing of the 200 finished jobs.
    assert (read.stream_rows, read.snapshot_rows, read.event_rows) == (3, 3, 6)


async def test_a_load_on_a_log_that_refuses_writes_skips_the_snapshot_and_still_loads(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    async with SQLiteEventLog(db, max_size_bytes=await quota_with_room(db)) as log:
        await fill(log, "job:a", 10)
        _, streams = await fill_until_refused(log, FILL_LAST_PAGES)  # a full disk, to SQLite
        fillers = iter(range(streams))
        for size in (1000, 100, 1):  # and the snapshot table's pages too
            for n in fillers:
                try:
                    await log.save_snapshot(f"filler:{n}", 1, 1, b"x" * size)
                except EventLogUnavailableError:
                    break
        loaded = await folder(snapshot_every=4).load(log, "job:a")
        assert (loaded.version, loaded.source, loaded.snapshot_written) == (10, "events", False)
        assert loaded.state.count == 10
