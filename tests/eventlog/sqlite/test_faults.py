"""Faults: a writer process killed mid-append loses nothing it acknowledged; a full disk or a
read-only file fails appends with a retryable error, and the writer keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlog.errors import EventLogError, EventLogUnavailableError
from eventlog.events import StatusObserved
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.verify import verify_file
from eventlog.sqlite.writer import WriteConnection
from tests.support import fill_until_refused

KILLS = 20

# The writer process: 16 tasks append to their own streams as fast as commits allow, and
# print each acknowledged (stream, version, seq) only after its future resolved.
WRITER = """
import asyncio, os, sys
from eventlog.events import StatusObserved
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog

async def main(db, tag):
    async with SQLiteEventLog(db, synchronous="FULL") as log:
        async def writer(k):
            stream, version = f"job:{tag}-{k}", 0
            while True:
                event = StatusObserved(at=1.0, task_id=f"{tag}-{k}-{version + 1}",
                                       runner_status="RUNNING")
                result = await log.append(stream, [event], version)
                version = result.version
                os.write(1, f"{stream} {version} {result.last_seq}\\n".encode())
        await asyncio.gather(*(writer(k) for k in range(16)))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def run_and_kill(db: Path, tag: str, after_acks: int) -> list[tuple[str, int, int]]:
    """Start a writer process, SIGKILL it after `after_acks` acknowledgements, return them all."""
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), tag], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        while len(lines) < after_acks:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        proc.kill()  # SIGKILL: no cleanup, no close, no checkpoint
        lines.extend(proc.stdout.read().splitlines(keepends=True))  # acks still in the pipe
        proc.wait(timeout=30)
    assert proc.returncode == -9, f"the writer ended by itself (exit {proc.returncode})"
    acks = []
    for line in lines:
        stream, version, seq = line.split()
        acks.append((stream, int(version), int(seq)))
    return acks


def test_a_writer_killed_mid_append_loses_none_of_the_appends_it_acknowledged(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    rng = random.Random(20240611)
    acknowledged: list[tuple[str, int, int]] = []
    for kill in range(KILLS):
        acknowledged += run_and_kill(db, f"k{kill}", after_acks=rng.randint(1, 300))
        conn = sqlite3.connect(db)
        try:
            stored = {
                (stream, version): seq
                for stream, version, seq in conn.execute(
                    "SELECT stream_id, version, seq FROM events"
                )
            }
        finally:
            conn.close()
        lost = [ack for ack in acknowledged if stored.get(ack[:2]) != ack[2]]
        assert not lost, f"after kill {kill + 1}: acknowledged but not stored: {lost[:5]}"
        report = verify_file(str(db))
        assert report.ok, f"after kill {kill + 1}: {report.broken}"
    assert len(acknowledged) >= KILLS


async def test_a_full_disk_fails_appends_retryably_and_the_writer_recovers(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    async with SQLiteEventLog(db) as log:
        await log.append("job:a", [StatusObserved(at=1.0, task_id="t", runner_status="R")], 0)
    # max_size_bytes is SQLite's own page quota: writes past it fail exactly as on a full disk.
    async with SQLiteEventLog(db, max_size_bytes=db.stat().st_size + 16 * DEFAULT_PAGE_SIZE) as log:
        assert log.writes_refused is None
        error, written = await fill_until_refused(log)
        assert written > 0
        assert error.retryable
        refused = log.writes_refused
        assert refused is not None
        assert refused.reason == str(error)
        assert f"the event log {db} is full" in str(error)
        assert "Free disk space, then retry" in str(error)

        # A whole batch that hits the limit fails together, and nothing of it is written.
        burst = await asyncio.gather(
            *(
                log.append(
                    f"job:burst-{n}",
                    [StatusObserved(at=1.0, task_id="y" * 3000, runner_status="R")],
                    0,
                )
                for n in range(20)
            ),
            return_exceptions=True,
        )
        assert all(isinstance(outcome, EventLogUnavailableError) for outcome in burst)
        assert await log.read_stream("job:burst-0") == []
        assert log.stats.failed_batches >= 2
        assert log.writes_refused is not None
        assert log.writes_refused.since == refused.since  # one spell, from its first refusal

        # The same writer takes the retry once space is freed: here by retention, whose
        # deleted rows leave pages that new events reuse.
        freed = await archive_closed_streams(
            log, older_than=time.time() + 60, directory=tmp_path / "archive"
        )
        assert freed.streams == written
        retried = await log.append(
            "job:burst-0", [StatusObserved(at=1.0, task_id="y", runner_status="R")], 0
        )
        assert retried.version == 1
        assert log.writes_refused is None  # the spell ends with the first commit
        report = await log.verify(archives=True)
        assert report.ok, report.broken


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged user may write to (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="eventlog-ro-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path)


READ_ONLY = """
import asyncio, json, os, sys
from eventlog.errors import EventLogUnavailableError
from eventlog.events import StatusObserved
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog

# Root ignores file modes: drop to an unprivileged user once everything is imported
# (the interpreter itself may live where that user cannot read).
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)

async def main(db):
    event = StatusObserved(at=1.0, task_id="t", runner_status="RUNNING")
    out = {}
    # A thread, not a process: the unprivileged user cannot start this interpreter.
    async with SQLiteEventLog(db, writer="thread") as log:
        await log.append("job:a", [event], 0)
    os.chmod(db, 0o444)
    async with SQLiteEventLog(db, writer="thread") as log:
        out["read"] = len(await log.read_stream("job:a"))
        for attempt in range(2):
            try:
                await log.append("job:a", [event], 1)
            except EventLogUnavailableError as exc:
                out.setdefault("errors", []).append([str(exc), exc.retryable])
        for suffix in ("", "-wal", "-shm"):  # SQLite gave these the database's mode
            os.chmod(db + suffix, 0o644)
        out["retried_version"] = (await log.append("job:a", [event], 1)).version
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"""


def test_a_read_only_file_fails_appends_retryably_until_it_is_writable_again(
    shared_dir: Path,
) -> None:
    db = shared_dir / "events.db"
    result = subprocess.run(
        [sys.executable, "-c", READ_ONLY, str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=shared_dir,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert result.returncode == 0, result.stderr
    *logged, last = result.stdout.splitlines()  # structlog's default writes to stdout too
    out = json.loads(last)
    assert any("eventlog_refusing_writes" in line for line in logged)
    assert any("eventlog_writes_resumed" in line for line in logged)
    assert out["read"] == 1, "a read-only log can still be read"
    assert len(out["errors"]) == 2, "every attempt fails while the file is read-only"
    for message, retryable in out["errors"]:
        assert retryable
        assert f"the event log {db} is read-only" in message
        assert "writable, then retry" in message
    assert out["retried_version"] == 2, "once writable, the same append goes through"
    assert verify_file(str(db)).ok


READ_IN_A_READ_ONLY_DIRECTORY = """
import json, os, sys
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.verify import verify_file

if os.geteuid() == 0:  # as in READ_ONLY: root would write to the directory regardless
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)

report = verify_file(sys.argv[1])
streams = sorted(r.stream_id for r in OfflineLog.open(sys.argv[1]).records())
print(json.dumps({"broken": report.broken and report.broken.message, "events": report.events,
                  "streams": streams}))
"""


async def three_jobs(db: Path) -> None:
    async with SQLiteEventLog(db) as log:
        for n in range(3):
            event = StatusObserved(at=1.0, task_id="t", runner_status="R")
            await log.append(f"poller:{n}", [event], 0)


def test_a_log_in_a_read_only_directory_can_still_be_verified_and_read(
    shared_dir: Path,
) -> None:
    db = shared_dir / "events.db"
    asyncio.run(three_jobs(db))
    assert sorted(p.name for p in shared_dir.iterdir()) == ["events.db"]  # no -wal, no -shm
    db.chmod(0o644)  # created 0600: its owner lets the auditor read it
    shared_dir.chmod(0o555)
    try:
        result = subprocess.run(
            [sys.executable, "-c", READ_IN_A_READ_ONLY_DIRECTORY, str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=shared_dir,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
        )
    finally:
        shared_dir.chmod(0o777)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out == {"broken": None, "events": 3, "streams": ["poller:0", "poller:1", "poller:2"]}
    assert sorted(p.name for p in shared_dir.iterdir()) == ["events.db"]


async def test_an_unexpected_writer_failure_fails_its_batch_and_the_writer_keeps_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = WriteConnection.commit
    calls = 0

    def flaky(self: WriteConnection, items: list, now: float) -> list:  # type: ignore[type-arg]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("a bug in the writer")
        return real(self, items, now)

    monkeypatch.setattr(WriteConnection, "commit", flaky)
    async with SQLiteEventLog(tmp_path / "e.db", writer="thread") as log:  # to see the monkeypatch
        event = StatusObserved(at=1.0, task_id="t", runner_status="R")
        await log.append("job:a", [event], 0)
        with pytest.raises(EventLogError, match="failed on a batch of 1: RuntimeError"):
            await log.append("job:a", [event], 1)
        assert (await log.append("job:a", [event], 1)).version == 2
        assert (await log.verify()).ok
