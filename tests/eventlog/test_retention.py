"""Retention moves finished streams to durable archives and keeps the chain verifiable."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

import eventlog.retention.archive
from eventlog.errors import CorruptEventError, StreamArchivedError
from eventlog.events import StatusObserved, TaskSucceeded
from eventlog.records import ANY_VERSION
from eventlog.retention.archive import read_archive, verify_archive
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def running(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id=f"t{n}", runner_status="RUNNING")


async def finish(log: SQLiteEventLog, stream: str, version: int) -> None:
    await log.append(
        stream, [TaskSucceeded(at=0.0, task_id="t", duration_ms=1)], version, close_stream=True
    )


async def build(log: SQLiteEventLog, clock: Clock) -> None:
    """Old finished jobs a, b interleaved with live job l; later a recent finished job r."""
    await log.append("job:a", [running(1)], 0)
    await log.append("job:l", [running(2)], 0)
    await log.append("job:b", [running(3)], 0)
    await finish(log, "job:a", 1)
    await log.append("job:l", [running(5)], 1)
    await finish(log, "job:b", 1)
    await log.save_snapshot("job:a", 2, 1, b"old state")
    clock.now = 5000.0
    await log.append("job:r", [running(7)], 0)
    await finish(log, "job:r", 1)


async def test_old_finished_streams_are_archived_and_the_chain_still_verifies(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with SQLiteEventLog(tmp_path / "e.db", clock=clock) as log:
        await build(log, clock)
        before = {s: [r.event for r in await log.read_stream(s)] for s in ("job:a", "job:b")}
        report = await archive_closed_streams(
            log, older_than=2000.0, directory=tmp_path / "archive", clock=clock
        )
        assert (report.streams, report.events) == (2, 4)
        assert [r.seq async for r in log.read_all()] == [2, 5, 7, 8]
        assert await log.read_stream("job:a") == []
        assert await log.load_snapshot("job:a", 1) is None
        assert await log.open_streams("job:") == [("job:l", 2)]
        assert ("job:a", 2, True) in await log.all_streams("job:")
        chain = await log.verify(archives=True)
        assert chain.ok, chain.broken
        assert (chain.events, chain.archived, chain.checkpoints) == (4, 4, 3)

    [archive] = report.archives
    checked = verify_archive(archive)
    assert checked.events == 4
    assert [(r.first_seq, r.after_seq) for r in checked.runs] == [(1, 1), (3, 4), (6, 6)]
    _header, events = read_archive(archive)
    archived = [(e.stream_id, e.seq) for e in events]
    assert archived == [("job:a", 1), ("job:b", 3), ("job:a", 4), ("job:b", 6)]
    assert len(before["job:a"]) == 2


async def test_new_appends_continue_the_chain_after_the_newest_events_were_archived(
    tmp_path: Path,
) -> None:
    clock = Clock()
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db, clock=clock) as log:
        await log.append("job:a", [running(1)], 0)
        await finish(log, "job:a", 1)
        await archive_closed_streams(log, older_than=2000.0, directory=tmp_path / "arch")
        assert [r async for r in log.read_all()] == []
    async with SQLiteEventLog(db, clock=clock) as log:  # the head is now only in a checkpoint
        result = await log.append("job:b", [running(3)], 0)
        assert result.first_seq == 3
        assert (await log.verify(archives=True)).ok


async def test_two_runs_leave_adjacent_checkpoints_that_still_verify(tmp_path: Path) -> None:
    clock = Clock()
    async with SQLiteEventLog(tmp_path / "e.db", clock=clock) as log:
        for n in range(6):
            await log.append(f"job:{n}", [running(n)], 0)
            await finish(log, f"job:{n}", 1)
        first = await archive_closed_streams(
            log, older_than=2000.0, directory=tmp_path / "a", prefix="job:1", clock=clock
        )
        second = await archive_closed_streams(
            log, older_than=2000.0, directory=tmp_path / "a", group=2, clock=clock
        )
        assert (first.streams, second.streams, len(second.archives)) == (1, 5, 3)
        chain = await log.verify(archives=True)
        assert chain.ok, chain.broken
        assert chain.archived == 12


async def test_an_archived_stream_takes_no_new_events(tmp_path: Path) -> None:
    clock = Clock()
    async with SQLiteEventLog(tmp_path / "e.db", clock=clock) as log:
        await log.append("job:a", [running(1)], 0)
        await finish(log, "job:a", 1)
        await archive_closed_streams(
            log, older_than=2000.0, directory=tmp_path / "arch", clock=clock
        )
        with pytest.raises(StreamArchivedError, match=r"'job:a' was archived at 1000\.0"):
            await log.append("job:a", [running(3)], 0)
        with pytest.raises(StreamArchivedError):
            await log.append("job:a", [running(3)], ANY_VERSION)
        assert (await log.append("job:other", [running(4)], 0)).first_seq == 3


async def test_the_archive_is_durable_before_any_row_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        order.append("fsync")
        real_fsync(fd)

    monkeypatch.setattr(eventlog.retention.archive.os, "fsync", fsync)
    clock = Clock()
    async with SQLiteEventLog(tmp_path / "e.db", clock=clock) as log:
        await log.append("job:a", [running(1)], 0)
        await finish(log, "job:a", 1)

        def trace(conn: sqlite3.Connection) -> None:
            conn.set_trace_callback(
                lambda sql: order.append("delete") if sql.startswith("DELETE FROM events") else None
            )

        await log.run_exclusive(trace)
        await archive_closed_streams(log, older_than=2000.0, directory=tmp_path / "arch")
        await log.run_exclusive(lambda conn: conn.set_trace_callback(None))
    assert order == ["fsync", "fsync", "delete"]  # the file, its directory, then the rows


async def test_a_failed_deletion_keeps_every_row_and_removes_the_unneeded_archive(
    tmp_path: Path,
) -> None:
    clock = Clock()
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db, clock=clock) as log:
        await log.append("job:a", [running(1)], 0)
        await finish(log, "job:a", 1)
        await log.run_exclusive(
            lambda conn: conn.execute(
                "CREATE TRIGGER no_delete BEFORE DELETE ON events "
                "BEGIN SELECT RAISE(ABORT, 'deleting is forbidden today'); END"
            )
        )
        with pytest.raises(sqlite3.IntegrityError, match="forbidden today"):
            await archive_closed_streams(log, older_than=2000.0, directory=tmp_path / "arch")
        assert len(await log.read_stream("job:a")) == 2
        assert list((tmp_path / "arch").iterdir()) == []
        assert (await log.verify()).ok
        assert (await log.append("job:b", [running(2)], 0)).first_seq == 3


async def test_an_edited_or_missing_archive_is_reported_with_the_first_archived_seq(
    tmp_path: Path,
) -> None:
    clock = Clock()
    async with SQLiteEventLog(tmp_path / "e.db", clock=clock) as log:
        await build(log, clock)
        report = await archive_closed_streams(log, older_than=2000.0, directory=tmp_path / "a")
        archive = Path(report.archives[0])
        edit_second_event(archive)
        broken = (await log.verify(archives=True)).broken
        assert broken is not None
        assert (broken.kind, broken.seq) == ("archive", 1)
        assert "seq 3" in broken.message
        assert (await log.verify()).ok, "without archives=True only the database is checked"
        remove(archive)
        broken = (await log.verify(archives=True)).broken
        assert broken is not None
        assert broken.kind == "archive"
        assert "No such file" in broken.message


def edit_second_event(archive: Path) -> None:
    lines = archive.read_text().splitlines()
    event = json.loads(lines[2])
    event["body"]["runner_status"] = "PENDING"
    lines[2] = json.dumps(event, separators=(",", ":"))
    archive.write_text("\n".join(lines) + "\n")


def remove(path: Path) -> None:
    path.unlink()


def test_an_archive_cut_short_names_the_first_missing_seq(tmp_path: Path) -> None:
    golden = Path(__file__).parent.parent / "golden" / "prototype_v0.jsonl"
    lines = golden.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(CorruptEventError, match="truncated") as caught:
        verify_archive(cut)
    assert caught.value.seq == len(lines) - 3


async def test_an_archived_stream_cannot_be_reopened_even_by_a_writer_that_cached_it(
    tmp_path: Path,
) -> None:
    # The writer knew job:a's version before retention archived it: a reopen (a retried
    # job) must still find it archived, not bring back a stream whose events are gone.
    clock = Clock()
    db = tmp_path / "e.db"
    async with SQLiteEventLog(db, clock=clock) as log:
        await log.append("job:a", [running(1)], 0)
        await finish(log, "job:a", 1)
        async with SQLiteEventLog(db, clock=clock) as other:  # retention on another connection
            await archive_closed_streams(other, older_than=2000.0, directory=tmp_path / "arch")
        with pytest.raises(StreamArchivedError):
            await log.append("job:a", [running(3)], 2, reopen_stream=True)
        assert await log.all_streams("job:") == [("job:a", 2, True)]
