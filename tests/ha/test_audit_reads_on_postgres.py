"""`druid-orch audit history|export|replay|compact`, `coverage` and `status --interval` on a
log in PostgreSQL, as a user who moved the demo's file there (`eventlog copy`) runs them: every
answer is the one the file gives, but for the log's name; a row that cannot be decoded, a
database that does not answer and a password in the URL are reported as the file's problems
are, naming the database without its password."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from actors.job.audit import recorded_events
from eventlog.postgres.offline import records
from eventlog.postgres.urls import redacted
from tests import pg_support
from tests.service.processes import ROOT, Result, clean_env

RULES = ROOT / "actors" / "supervision" / "failure_rules.toml"
PASSWORD = "never-shown-4711"


def druid_orch(*args: str | Path) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli.main", *map(str, args)],
        cwd=ROOT,
        env=clean_env(DRUID_ORCH_EVENTLOG_PASSWORD=PASSWORD),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert PASSWORD not in done.stdout + done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


@contextmanager
def database_with(log: Path) -> Iterator[str]:
    """A scratch database holding a copy of the file `log`, made as a user makes one."""
    with pg_support.database() as url:
        copied = druid_orch("eventlog", "copy", "--from", log, "--to", url)
        assert copied.code == 0, copied.err
        yield url


async def first_seq(url: str, stream_id: str, version: int) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT seq FROM events WHERE stream_id = $1 AND version = $2", stream_id, version
            )
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's log: 8 jobs, with retries and one structural failure."""
    db = tmp_path_factory.mktemp("audit-pg") / "demo.db"
    made = druid_orch("demo", "--only", "batch", "--jobs", "8", "--db", db)
    assert made.code == 0, made.err
    return db


@pytest.fixture(scope="module")
def url(demo_db: Path) -> Iterator[str]:
    with database_with(demo_db) as url:
        yield url


def facts(db: Path) -> tuple[str, str, int]:
    """(a retried job's id, the interval of the first job, the number of events)."""
    with sqlite3.connect(db) as conn:
        (retried,) = conn.execute(
            "SELECT stream_id FROM events WHERE type = 'retry_scheduled' LIMIT 1"
        ).fetchone()
        start, end = conn.execute(
            "SELECT interval_start, interval_end FROM job_summaries ORDER BY job_id LIMIT 1"
        ).fetchone()
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    return retried.removeprefix("job:"), f"{start}/{end}", events


def same_on_both(demo_db: Path, url: str, *args: str | Path) -> Result:
    """Run `druid-orch ARGS --db …` on the file and on the database; both must answer alike."""
    on_file = druid_orch(*args, "--db", demo_db)
    on_db = druid_orch(*args, "--db", url)
    assert (on_db.code, on_db.out, on_db.err.replace(url, str(demo_db))) == (
        on_file.code,
        on_file.out,
        on_file.err,
    ), args
    return on_db


def test_the_database_yields_the_events_the_file_yields_for_every_filter_a_page_at_a_time(
    demo_db: Path, url: str
) -> None:
    retried, _, events = facts(demo_db)
    with sqlite3.connect(demo_db) as conn:
        (middle,) = conn.execute("SELECT recorded_at FROM events WHERE seq = ?", (events // 2,))
    asks: list[dict[str, Any]] = [
        {},
        {"after_seq": events - 3},
        {"since": middle[0]},
        {"stream_id": f"job:{retried}"},
        {"after_seq": 5, "since": middle[0], "stream_id": f"job:{retried}"},
    ]
    for ask in asks:
        from_file = list(recorded_events(demo_db, **ask))
        assert list(recorded_events(url, **ask)) == from_file, ask
        assert from_file or ask.get("stream_id")  # every ask but the last finds events
    # Pages smaller than the log: each read on from where the last one ended.
    assert list(records(url, password=None, page=7)) == list(recorded_events(demo_db))


def test_history_export_replay_and_status_answer_from_the_database_as_from_the_file(
    demo_db: Path, url: str, tmp_path: Path
) -> None:
    retried, interval, events = facts(demo_db)
    story = same_on_both(demo_db, url, "audit", "history", retried)
    assert story.code == 0
    assert "retry_scheduled" in story.out
    assert "decision: retry as attempt 2" in story.out

    exported = same_on_both(demo_db, url, "audit", "export")
    assert len(exported.out.splitlines()) == events

    strict = tmp_path / "strict.toml"
    strict.write_text('default = "structural"\n')
    changed = same_on_both(demo_db, url, "audit", "replay", "--rules", strict, "--json", "--check")
    assert changed.code == 1
    assert json.loads(changed.out)["changed_decisions"] >= 1

    calendar = same_on_both(demo_db, url, "coverage", "wikipedia", "--json")
    assert len(json.loads(calendar.out)["cells"]) >= 8
    # A configuration that names the database is read as `--db` is (it read the default file).
    config = tmp_path / "ha.toml"
    config.write_text(f'[eventlog]\nurl = "{url}"\n')
    configured = druid_orch("coverage", "wikipedia", "--json", "--config", config)
    assert (configured.code, configured.out) == (0, calendar.out), configured.err

    # The interval filter is the file's too (it was ignored on PostgreSQL: every job listed).
    shown = same_on_both(demo_db, url, "status", "--interval", interval, "--json")
    assert 1 <= len(json.loads(shown.out)["jobs"]) < 8
    assert len(json.loads(druid_orch("status", "--db", url, "--json").out)["jobs"]) == 8


def test_compact_archives_from_the_database_what_it_archives_from_the_file(
    demo_db: Path, tmp_path: Path
) -> None:
    file_copy = tmp_path / "copy.db"
    shutil.copy(demo_db, file_copy)
    with database_with(demo_db) as url:
        refused = druid_orch("audit", "compact", "--db", url, "--keep-days", "0")
        assert refused.code == 2
        assert "give --archive-dir" in refused.err
        assert url in refused.err

        archives = tmp_path / "archives"
        on_db = druid_orch(
            "audit", "compact", "--db", url, "--keep-days", "0", "--archive-dir", archives, "--json"
        )
        on_file = druid_orch("audit", "compact", "--db", file_copy, "--keep-days", "0", "--json")
        assert on_db.code == on_file.code == 0, on_db.err + on_file.err
        db_report, file_report = json.loads(on_db.out), json.loads(on_file.out)
        assert db_report["streams"] == file_report["streams"] == 8
        assert db_report["events"] == file_report["events"] > 0
        assert all(Path(a).parent == archives for a in db_report["archives"])

        verified = druid_orch("audit", "verify", "--db", url, "--archives")
        assert verified.code == 0, verified.out + verified.err
        # The jobs' rows stay: status still knows every job, history no longer has events.
        assert len(json.loads(druid_orch("status", "--db", url, "--json").out)["jobs"]) == 8


def test_a_row_that_cannot_be_decoded_is_named_by_its_seq_and_nothing_is_lost(
    demo_db: Path,
) -> None:
    retried, _, events = facts(demo_db)
    with database_with(demo_db) as url:
        seq = asyncio.run(first_seq(url, f"job:{retried}", 2))
        asyncio.run(
            pg_support.tamper(url, f"UPDATE events SET body = '\\x00ff'::bytea WHERE seq = {seq}")
        )
        exported = druid_orch("audit", "export", "--db", url)
        assert exported.code == 1
        assert f"seq {seq}" in exported.err
        assert url in exported.err
        assert len(exported.out.splitlines()) == seq - 1  # every event before it was written
        history = druid_orch("audit", "history", retried, "--db", url)
        assert history.code == 1
        assert f"seq {seq}" in history.err
        replayed = druid_orch("audit", "replay", "--db", url, "--rules", RULES)
        assert replayed.code == 1
        assert f"seq {seq}" in replayed.err
        assert events > seq


def test_a_database_that_does_not_answer_is_named_without_its_password() -> None:
    url = f"postgresql://orch:{PASSWORD}@127.0.0.1:1/nowhere"
    for args in (
        ("audit", "export"),
        ("audit", "history", "some-job"),
        ("audit", "replay", "--rules", RULES),
        ("audit", "compact", "--archive-dir", "/tmp/unused"),
    ):
        done = druid_orch(*args, "--db", url)
        assert done.code in (1, 2), (args, done)
        assert redacted(url) in done.err, (args, done.err)
        assert "Traceback" not in done.err, (args, done.err)
