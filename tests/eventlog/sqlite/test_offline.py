"""A log file read back offline: the filters the audit uses, and refusals that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventlog.errors import UnreadableLogError
from eventlog.events import StatusObserved
from eventlog.records import ANY_VERSION
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.store import SQLiteEventLog


async def test_records_come_in_order_and_filter_by_seq_time_and_stream(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    clock = iter([10.0, 20.0, 30.0, 40.0])
    async with SQLiteEventLog(db, writer="thread", clock=lambda: next(clock)) as log:
        for n, stream in enumerate(["job:a", "job:b", "job:a"]):
            event = StatusObserved(at=float(n), task_id="t", runner_status="RUNNING")
            await log.append(stream, [event], ANY_VERSION)
    with OfflineLog.open(db) as offline:
        assert [(r.seq, r.stream_id, r.version) for r in offline.records()] == [
            (1, "job:a", 1),
            (2, "job:b", 1),
            (3, "job:a", 2),
        ]
        assert [r.seq for r in offline.records(after_seq=1)] == [2, 3]
        assert [r.seq for r in offline.records(since=20.0)] == [2, 3]
        assert [r.seq for r in offline.records(stream_id="job:a")] == [1, 3]


def test_a_missing_file_is_refused_by_name_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nothing.db"
    with pytest.raises(UnreadableLogError, match=f"no event log at {db}"):
        OfflineLog.open(db)
    assert not db.exists()
