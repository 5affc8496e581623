"""Secrets at rest: every file the project creates beside the log is its owner's alone.

The log, its `-wal` and `-shm`, the lock file, archives and the directories made for them
hold (or sit beside) every spec with its passwords. They are created 0600 / 0700 whatever
the umask; an existing log that others can read is named in a warning with the fix.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from structlog.testing import capture_logs

from eventlog.events import BreakerClosed
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.store import SQLiteEventLog
from tests.security.support import JSON, TEMPLATE, call, daemon


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_a_daemons_log_wal_shm_and_lock_are_created_0600_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    old = os.umask(0o022)  # the subprocess inherits it: what a default shell gives
    try:
        async with daemon(tmp_path) as d:
            body = json.dumps({"template": TEMPLATE, "intervals": ["2024-01-01/2024-01-02"]})
            status, _ = await call(d.url, "POST", "/v1/jobs", headers=JSON, data=body)
            assert status == 202
            files = [d.db, Path(f"{d.db}-wal"), Path(f"{d.db}-shm"), Path(f"{d.db}-lock")]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        os.umask(old)


async def test_archives_and_new_directories_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "state" / "log.db"  # its directory is created for it
        async with SQLiteEventLog(db) as log:
            closed = [BreakerClosed(at=1.0, breaker="overlord")]
            await log.append("job:done", closed, 0, close_stream=True)
            report = await archive_closed_streams(
                log, older_than=time.time() + 60, directory=tmp_path / "archive"
            )
        assert mode(db.parent) == 0o700
        assert mode(db) == 0o600
        assert mode(tmp_path / "archive") == 0o700
        assert report.archives
        assert all(mode(Path(p)) == 0o600 for p in report.archives)
    finally:
        os.umask(old)


async def test_an_existing_log_others_can_read_is_named_with_the_chmod_that_fixes_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    async with SQLiteEventLog(db):
        pass
    os.chmod(db, 0o644)
    with capture_logs() as logged:
        async with SQLiteEventLog(db):
            pass
    [warning] = [e for e in logged if e["event"] == "event_log_readable_by_others"]
    assert warning["log_level"] == "warning"
    assert f"chmod 600 '{db}'" in warning["fix"]
    assert mode(db) == 0o644, "the owner's choice is left alone"
