"""The read model under audit, as a user meets it: `audit verify` reports a summary row
edited by hand like a broken chain, `audit rebuild-summaries` restores it, and a log from
before the read model is migrated and filled at the orchestrator's next boot."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from actors.job.summary import folded_summaries
from eventlog.sqlite.offline import OfflineLog
from eventlog.sqlite.projection.schema import MARK_FOR_REBUILD
from tests.service.processes import ROOT, clean_env
from tests.service.test_cli_audit import audit


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's batch half (8 jobs: retries, one structural failure): all these tests
    read, in a fifth of the time the whole demo takes."""
    db = tmp_path_factory.mktemp("read-model") / "demo.db"
    subprocess.run(
        [sys.executable, "-m", "service.cli.main", "demo", "--jobs", "8", "--only", "batch",
         "--db", str(db)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        timeout=120,
        check=True,
    )  # fmt: skip
    return db


def test_verify_catches_an_edited_summary_row_and_a_rebuild_restores_it(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "edited.db"
    shutil.copy(demo_db, db)
    ok = audit("verify", "--db", str(db))
    assert ok.code == 0, ok.err
    assert "every job summary equals the fold of its stream" in ok.out
    with sqlite3.connect(db) as conn:
        job, position = conn.execute(
            "SELECT job_id, position FROM job_summaries WHERE phase = 'succeeded' LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE job_summaries SET phase = 'dead' WHERE job_id = ?", (job,))
    broken = audit("verify", "--db", str(db))
    assert broken.code == 1
    assert f"FAILED (summaries) at seq {position} (stream job:{job}" in broken.out
    assert "phase is 'dead' where the events say 'succeeded'" in broken.out
    rebuilt = audit("rebuild-summaries", "--db", str(db))
    assert rebuilt.code == 0, rebuilt.err
    assert "rebuilt 8 job summaries" in rebuilt.out
    again = audit("verify", "--db", str(db))
    assert again.code == 0, again.out
    with OfflineLog.open(db) as log:
        assert log.job_summary(job).phase == "succeeded"  # type: ignore[union-attr]


def test_verify_catches_a_deleted_row_and_a_row_without_events(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "deleted.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        (job,) = conn.execute("SELECT min(job_id) FROM job_summaries").fetchone()
        conn.execute("DELETE FROM job_summaries WHERE job_id = ?", (job,))
    result = audit("verify", "--db", str(db))
    assert result.code == 1
    assert f"job {job} has events but no summary row" in result.out
    audit("rebuild-summaries", "--db", str(db))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO job_summaries SELECT 'ghost', 'job:ghost', datasource, interval_start, "
            "interval_end, phase, position, changed_at, body FROM job_summaries LIMIT 1"
        )
    result = audit("verify", "--db", str(db))
    assert result.code == 1
    assert "job ghost has a summary row but no events in the log" in result.out
    audit("rebuild-summaries", "--db", str(db))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE job_summaries SET body = x'c1' WHERE job_id = ?", (job,))
    result = audit("verify", "--db", str(db))
    assert result.code == 1
    assert f"the summary row of job {job} cannot be decoded" in result.out


def test_a_log_marked_for_rebuild_is_not_checked_until_it_is_built(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "migrated.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM job_summaries")
        conn.executescript(MARK_FOR_REBUILD)
    result = audit("verify", "--db", str(db))
    assert result.code == 0, result.out
    assert "the job summaries are not built yet" in result.out
    assert audit("rebuild-summaries", "--db", str(db)).code == 0
    with OfflineLog.open(db) as log:
        assert not log.summaries_need_rebuild()
        rows = dict(log.checkable_summaries())
        assert rows == folded_summaries(log.records())
        assert len(rows) == 8


def test_verify_catches_an_edited_phase_count_and_a_rebuild_restores_it(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "counts.db"
    shutil.copy(demo_db, db)
    with OfflineLog.open(db) as log:
        before = log.phase_counts()
    assert before == {"succeeded": 7, "dead": 1}
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE job_phase_counts SET jobs = jobs + 5 WHERE phase = 'dead'")
    result = audit("verify", "--db", str(db))
    assert result.code == 1
    assert "the stored jobs-by-phase counts" in result.out
    assert audit("rebuild-summaries", "--db", str(db)).code == 0
    with OfflineLog.open(db) as log:
        assert log.phase_counts() == before
    assert audit("verify", "--db", str(db)).code == 0
