"""The writer at the far end of its socket: its death, its parent's death, signals, and
maintenance that holds it."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from eventlog.errors import EventLogClosedError, WriterLostError
from eventlog.events import StatusObserved
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.verify import verify_file
from tests.service.processes import eventually


def observed(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id=f"t{n}", runner_status="RUNNING")


def writer_pid(log: SQLiteEventLog) -> int:
    assert log.writer_pid is not None
    return log.writer_pid


def gone(pid: int) -> bool:
    """Dead or a zombie: either way it commits nothing any more."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


async def kill_while_waiting(log: SQLiteEventLog, tag: str) -> list[BaseException | object]:
    """SIGKILL the writer while five appends wait for it; return what they got."""
    pid = writer_pid(log)
    os.kill(pid, signal.SIGSTOP)  # so that the appends below are surely still waiting
    waiting = [
        asyncio.ensure_future(log.append(f"job:{tag}{n}", [observed(n)], 0)) for n in range(5)
    ]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiting)
    os.kill(pid, signal.SIGKILL)
    return await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=10)


async def test_a_killed_writer_fails_the_waiting_appends_and_a_new_writer_takes_over(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "e.db") as log:
        await log.append("job:a", [observed(1)], 0)
        first = writer_pid(log)
        for outcome in await kill_while_waiting(log, "w"):
            assert isinstance(outcome, WriterLostError)
            assert outcome.retryable
            assert "killed by signal 9" in str(outcome)
            assert "may or may not have been committed" in str(outcome)
        assert (await log.append("job:a", [observed(2)], 1)).version == 2
        assert writer_pid(log) != first
        assert log.stats.writer_restarts == 1
        # The lost appends were not committed (the writer was stopped before it read them):
        # retried with the same expected version, they go through.
        assert (await log.append("job:w0", [observed(0)], 0)).version == 1
        assert (await log.verify()).ok


async def test_a_log_whose_writers_keep_dying_stops_taking_writes(tmp_path: Path) -> None:
    async with SQLiteEventLog(tmp_path / "e.db") as log:
        await log.append("job:a", [observed(1)], 0)
        for kill in range(3):
            await kill_while_waiting(log, f"k{kill}-")
            await log.append("job:a", [observed(kill + 2)], kill + 1)  # a successor took over
        outcomes = await kill_while_waiting(log, "last-")
        assert all(isinstance(o, WriterLostError) for o in outcomes)
        with pytest.raises(EventLogClosedError, match="was lost 4 times in 60 s"):
            await log.append("job:a", [observed(9)], 4)
        assert len(await log.read_stream("job:a")) == 4, "reads go on without a writer"
    async with SQLiteEventLog(tmp_path / "e.db") as again:  # a new open starts afresh
        assert (await again.append("job:a", [observed(9)], 4)).version == 5


PARENT = """
import asyncio, os, sys
from eventlog.events import StatusObserved
from eventlog.sqlite.store import SQLiteEventLog

async def main(db):
    async with SQLiteEventLog(db) as log:
        await log.append("job:a", [StatusObserved(at=1.0, task_id="t", runner_status="R")], 0)
        print(log.writer_pid, flush=True)
        await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1]))
"""


def test_the_writer_process_dies_with_its_parent(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "e.db")], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.kill()  # SIGKILL: the parent closes nothing
        parent.wait(timeout=30)
    deadline = time.monotonic() + 10
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child), "an orphaned writer could commit appends nobody awaits"


async def test_signals_meant_for_the_whole_process_group_leave_the_writer_to_its_parent(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "e.db") as log:
        pid = writer_pid(log)
        await log.append("job:a", [observed(1)], 0)
        os.kill(pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
        os.kill(pid, signal.SIGTERM)  # so does a service manager's stop
        await asyncio.sleep(0.1)
        assert not gone(pid)
        assert (await log.append("job:a", [observed(2)], 1)).version == 2
    assert gone(pid), "closing the log stops its writer"


@pytest.mark.parametrize("writer", ["process", "thread"])
async def test_maintenance_holds_later_appends_and_commits_earlier_ones_first(
    tmp_path: Path, writer: str
) -> None:
    release = threading.Event()
    seen: list[int] = []

    def action(conn: object) -> str:
        import sqlite3

        assert isinstance(conn, sqlite3.Connection)
        seen.append(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        release.wait(10)
        seen.append(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        return "done"

    async with SQLiteEventLog(tmp_path / "e.db", writer=writer) as log:  # type: ignore[arg-type]
        before = asyncio.ensure_future(log.append("job:a", [observed(1)], 0))
        maintenance = asyncio.ensure_future(log.run_exclusive(action))
        await asyncio.sleep(0)
        during = asyncio.ensure_future(log.append("job:b", [observed(2)], 0))
        # On a busy host the earlier append may take a while; the later one must still wait.
        await asyncio.wait_for(asyncio.shield(before), timeout=10)
        await asyncio.sleep(0.2)
        assert not during.done(), "appends made meanwhile wait for the action"
        release.set()
        assert await maintenance == "done"
        assert (await during).first_seq == 2
    assert seen == [1, 1]


async def test_bad_options_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="writer must be 'process' or 'thread'"):
        SQLiteEventLog(tmp_path / "e.db", writer="fork")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_size_bytes must be positive"):
        SQLiteEventLog(tmp_path / "e.db", max_size_bytes=0)
    assert not (tmp_path / "e.db").exists()


async def append_until(
    log: SQLiteEventLog, stream: str, stop: asyncio.Event, acknowledged: dict[tuple[str, int], int]
) -> int:
    """Append to `stream` as fast as commits allow until `stop`; return the lost appends."""
    lost, version = 0, 0
    while not stop.is_set():
        try:
            result = await log.append(stream, [observed(version + 1)], version)
        except WriterLostError:
            lost += 1  # committed or not: the stream's version says
            version = len(await log.read_stream(stream))
            continue
        version = result.version
        acknowledged[(stream, version)] = result.last_seq
    return lost


async def test_a_writer_killed_mid_commit_loses_no_acknowledged_append(tmp_path: Path) -> None:
    """SIGKILL the writer process at random moments while 16 streams append as fast as
    commits allow: every append that was acknowledged is on disk, the chain verifies,
    and each successor carries on from where the file is."""
    db = tmp_path / "e.db"
    rng = random.Random(20261129)
    acknowledged: dict[tuple[str, int], int] = {}
    lost = 0
    for round_ in range(3):
        async with SQLiteEventLog(db) as log:
            stop = asyncio.Event()
            tasks = [
                asyncio.ensure_future(append_until(log, f"job:r{round_}-{k}", stop, acknowledged))
                for k in range(16)
            ]
            for kill in range(3):
                await asyncio.sleep(rng.uniform(0.01, 0.2))
                os.kill(writer_pid(log), signal.SIGKILL)
                restarted = kill + 1
                await eventually(lambda: log.stats.writer_restarts == restarted)  # noqa: B023
            await asyncio.sleep(0.05)
            stop.set()
            lost += sum(await asyncio.gather(*tasks))
    assert lost > 0, "no kill landed while appends waited: nothing was tested"
    conn = sqlite3.connect(db)
    try:
        stored = {
            (stream, version): seq
            for stream, version, seq in conn.execute("SELECT stream_id, version, seq FROM events")
        }
    finally:
        conn.close()
    missing = [k for k, seq in acknowledged.items() if stored.get(k) != seq]
    assert not missing, f"acknowledged but not stored: {missing[:5]}"
    assert len(acknowledged) > 100
    assert verify_file(str(db)).ok
