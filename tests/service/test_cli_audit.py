"""`druid-orch audit` as a user runs it, over a log written by the demo (8 jobs: retries, one
structural failure) and over logs written by hand to contain what must never happen."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from eventlog.events import JobAccepted, JobDied, RetryScheduled, TaskSucceeded, spec_raw
from eventlog.sqlite.store import SQLiteEventLog
from service.cli.audit import render_timeline
from service.demo import CORRUPT_DAY, demo_jobs
from tests.actors.job.test_audit import accepted, failed_attempt, recorded
from tests.service.processes import ROOT, Result, clean_env

RULES = ROOT / "actors" / "supervision" / "failure_rules.toml"


def audit(*args: str) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "audit", *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


DEMO = [sys.executable, "-m", "service.cli.main", "demo"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("audit") / "demo.db"
    subprocess.run(
        [*DEMO, "--only", "batch", "--jobs", "8", "--db", str(db)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        timeout=120,
        check=True,
    )
    return db


def retried_job(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT stream_id FROM events WHERE type = 'retry_scheduled' LIMIT 1"
        ).fetchone()
    return str(row[0]).removeprefix("job:")


def test_verify_passes_on_a_log_the_orchestrator_wrote(demo_db: Path) -> None:
    result = audit("verify", "--db", str(demo_db))
    assert result.code == 0, result.out + result.err
    assert "OK:" in result.out
    assert "8 job streams replay through the FSM" in result.out
    as_json = json.loads(audit("verify", "--db", str(demo_db), "--json").out)
    assert as_json["ok"] is True
    assert as_json["jobs"] == 8


async def test_verify_fails_with_the_first_illegal_transition(tmp_path: Path) -> None:
    db = tmp_path / "forged.db"
    # Written through the event log (so the hash chain is intact) but never through the FSM.
    async with SQLiteEventLog(db) as log:
        accepted = JobAccepted(
            at=1.0, job_id="j1", datasource="ds", interval="i", spec=spec_raw({}), spec_hash="h"
        )
        await log.append("job:j1", [accepted], 0)
        await log.append("job:j1", [TaskSucceeded(at=2.0, task_id="t", duration_ms=1)], 1)
    result = audit("verify", "--db", str(db))
    assert result.code == 1
    assert "FAILED (replay) at seq 2 (stream job:j1, version 2)" in result.out
    assert "can't apply TaskSucceeded when phase='accepted'" in result.out


def test_verify_fails_when_an_event_is_removed_from_a_stream(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "cut.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "DELETE FROM events WHERE seq = (SELECT min(seq) FROM events WHERE version = 2)"
        )
    result = audit("verify", "--db", str(db))
    assert result.code == 1
    assert "FAILED" in result.out


def test_verify_on_a_missing_file_says_so_and_exits_1_as_status_does(tmp_path: Path) -> None:
    result = audit("verify", "--db", str(tmp_path / "none.db"))
    assert result.code == 1
    assert "no event log at" in result.err


def test_history_tells_a_dead_jobs_story_with_evidence_rule_and_decision(demo_db: Path) -> None:
    dead = demo_jobs(8)[CORRUPT_DAY].job_id
    result = audit("history", dead, "--db", str(demo_db))
    assert result.code == 0, result.err
    assert result.out.startswith(f"job {dead}: ")
    for text in ("job_accepted", "submit_intended", "task_failed", "failure_classified"):
        assert text in result.out
    assert "rule: parse-errors -> structural" in result.out
    assert "evidence unparseable:" in result.out
    assert "decision: dead: structural failure" in result.out


def test_history_shows_a_retry_decision_and_json(demo_db: Path) -> None:
    job = retried_job(demo_db)
    result = audit("history", job, "--db", str(demo_db))
    assert "decision: retry as attempt 2 after" in result.out
    events = json.loads(audit("history", job, "--db", str(demo_db), "--json").out)
    assert events[0]["event"]["type"] == "job_accepted"
    assert any(e["event"]["type"] == "retry_scheduled" for e in events)


def test_history_of_an_unknown_job_exits_1(demo_db: Path) -> None:
    result = audit("history", "nope", "--db", str(demo_db))
    assert result.code == 1
    assert "no job 'nope'" in result.err


def test_export_writes_every_event_as_json_lines_and_filters(demo_db: Path) -> None:
    with sqlite3.connect(demo_db) as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    result = audit("export", "--db", str(demo_db))
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert len(lines) == total
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    assert {"seq", "stream_id", "version", "recorded_at", "event"} <= set(lines[0])
    after = audit("export", "--db", str(demo_db), "--after-seq", str(total - 3))
    assert len(after.out.splitlines()) == 3
    future = audit("export", "--db", str(demo_db), "--since", "2999-01-01T00:00:00Z")
    assert (future.code, future.out) == (0, "")
    bad = audit("export", "--db", str(demo_db), "--since", "yesterday")
    assert bad.code == 2
    assert "--since" in bad.err


def test_replay_with_the_same_rules_changes_nothing(demo_db: Path) -> None:
    result = audit("replay", "--db", str(demo_db), "--rules", str(RULES), "--check")
    assert result.code == 0, result.out + result.err
    assert "decide every one the same way" in result.out


def test_replay_with_stricter_rules_shows_each_changed_decision(
    demo_db: Path, tmp_path: Path
) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text('default = "structural"\n')
    result = audit("replay", "--db", str(demo_db), "--rules", str(strict))
    assert result.code == 0
    assert "DECISION CHANGES" in result.out
    assert "recorded: transient" in result.out
    assert "new:      structural rule default" in result.out
    checked = audit("replay", "--db", str(demo_db), "--rules", str(strict), "--check", "--json")
    assert checked.code == 1
    report = json.loads(checked.out)
    assert report["changed_decisions"] == report["failures"] - 1  # the dead one stays dead


def test_replay_with_a_broken_rules_file_names_it(demo_db: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[[rule]]\nname = "x"\nclassification = "maybe"\n')
    result = audit("replay", "--db", str(demo_db), "--rules", str(broken))
    assert result.code == 2
    assert "broken.toml" in result.err


def druid_orch(*args: str) -> Result:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli.main", *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def break_the_page_of(db: Path, seq: int) -> None:
    """Give the b-tree page that holds the event at `seq` an impossible page type."""
    with sqlite3.connect(db) as conn:
        body = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    page = data.index(bytes(body)) // page_size
    data[page * page_size] = 0x77
    db.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (("status",), 1),
        (("audit", "export"), 1),
        (("audit", "replay", "--rules", str(RULES)), 1),
    ],
)
def test_a_damaged_page_is_named_with_the_file_and_the_last_seq_read_not_a_traceback(
    demo_db: Path, tmp_path: Path, command: tuple[str, ...], code: int
) -> None:
    db = tmp_path / "damaged.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    break_the_page_of(db, total - 2)
    before = db.read_bytes()
    result = druid_orch(*command[:1], *command[1:2], "--db", str(db), *command[2:])
    assert result.code == code, result.err
    assert "Traceback" not in result.err
    assert f"{db} is damaged: it cannot be read past seq " in result.err
    assert "database disk image is malformed" in result.err
    assert db.read_bytes() == before


def test_verify_reports_a_damaged_page_at_its_seq_and_history_names_the_file(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "damaged.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        seq, stream = conn.execute(
            "SELECT max(seq), stream_id FROM events WHERE seq < (SELECT max(seq) - 2 FROM events)"
        ).fetchone()
    break_the_page_of(db, seq)
    result = audit("verify", "--db", str(db))
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    assert "FAILED (chain: unreadable) at seq " in result.out
    history = audit("history", stream.removeprefix("job:"), "--db", str(db))
    assert history.code == 1
    assert "Traceback" not in history.err
    assert f"{db} is damaged: the events of stream {stream} cannot be read" in history.err


# The connections are closed here, not left to the garbage collector: the last connection to
# close checkpoints the -wal into the file, which must not happen after the test's snapshot.
def foreign_file_with_an_events_table(db: Path) -> None:
    db.unlink()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE events (seq, stream_id, version, recorded_at, body)")


def newer_schema(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("PRAGMA user_version = 99")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (foreign_file_with_an_events_table, "is an SQLite file of another application"),
        (newer_schema, "has schema version 99, newer than this druid-orchestrator"),
        (lambda db: db.write_bytes(b""), "is empty (0 bytes): no event log was ever written"),
        (lambda db: db.write_bytes(db.read_bytes()[:8192]), "is truncated: its header describes"),
    ],
    ids=["foreign", "newer-schema", "empty", "truncated"],
)
def test_status_and_audit_refuse_a_file_that_is_not_a_readable_log_saying_why(
    demo_db: Path, tmp_path: Path, damage: Callable[[Path], object], message: str
) -> None:
    db = tmp_path / "e.db"
    shutil.copy(demo_db, db)
    damage(db)
    before = db.read_bytes()
    status = druid_orch("status", "--db", str(db))
    assert status.code == 1
    assert f"{db} " in status.err
    assert message in status.err
    export = audit("export", "--db", str(db))
    assert export.code == 1
    assert message in export.err
    assert export.out == ""
    assert db.read_bytes() == before


def without_a_jobs_first_event(db: Path) -> str:
    """Delete the first event of a job stream (its acceptance); return the stream."""
    with sqlite3.connect(db) as conn:
        seq, stream = conn.execute(
            "SELECT seq, stream_id FROM events WHERE version = 1 AND stream_id LIKE 'job:%' "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
    return str(stream)


# `status --db` reads the job summaries, not the events: `audit verify` is what notices an
# edited stream (tests/service/test_read_model_audit.py).
@pytest.mark.parametrize(("command", "code"), [(("audit", "replay", "--rules", str(RULES)), 1)])
def test_a_job_stream_that_no_longer_folds_is_named_with_its_seq_not_a_traceback(
    demo_db: Path, tmp_path: Path, command: tuple[str, ...], code: int
) -> None:
    db = tmp_path / "edited.db"
    shutil.copy(demo_db, db)
    stream = without_a_jobs_first_event(db)
    result = druid_orch(*command[:1], *command[1:2], "--db", str(db), *command[2:])
    assert result.code == code, result.err
    assert "Traceback" not in result.err
    assert f"{db}: stream {stream} does not replay at seq " in result.err
    assert "(version 2): can't apply" in result.err


def test_a_column_of_the_wrong_type_is_named_with_its_seq_not_a_traceback(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "edited.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        # Our tables are STRICT and refuse the edit; a crafted file need not be: the same
        # table, loose, as anyone can write it.
        conn.executescript(
            "CREATE TABLE loose AS SELECT * FROM events; DROP TABLE events;"
            "ALTER TABLE loose RENAME TO events;"
        )
        conn.execute("UPDATE events SET recorded_at = 'yesterday' WHERE seq = 5")
    for result, code in ((audit("export", "--db", str(db)), 1),):
        assert result.code == code, result.err
        assert "Traceback" not in result.err
        assert "the row at seq 5 (stream job:" in result.err
        assert "has a column of the wrong type" in result.err
        assert "recorded_at 'yesterday'" in result.err


def test_a_directory_given_as_the_log_is_refused_by_name(tmp_path: Path) -> None:
    db = tmp_path / "logs"
    db.mkdir()
    for result, code in (
        (druid_orch("status", "--db", str(db)), 1),
        (audit("verify", "--db", str(db)), 1),
        (audit("export", "--db", str(db)), 1),
    ):
        assert result.code == code, result.err
        assert "Traceback" not in result.err
        assert f"{db} is a directory, not an event log file" in result.err


def test_status_into_a_closed_pipe_ends_quietly_with_the_sigpipe_code(demo_db: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "status", "--db", str(demo_db)],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        proc.stdout.close()  # as `| head -0` would, before status writes its table
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141
    assert "Traceback" not in err.decode()
    assert "BrokenPipeError" not in err.decode()


def test_the_timeline_explains_each_failure_with_rule_evidence_and_decision() -> None:
    events = [
        accepted(),
        *failed_attempt(),
        RetryScheduled(at=4.0, next_attempt=2, delay_s=12.5, not_before=16.5),
    ]
    lines = render_timeline(recorded(events))
    text = "\n".join(lines)
    assert lines[0].startswith("2023-11-14T22:13:20.000Z  job_accepted")  # ISO 8601
    assert "failure_classified" in text
    assert "rule: lost-worker -> transient" in text
    assert "evidence status_error: Worker disappeared" in text
    assert "decision: retry as attempt 2 after 12.5s" in text
    assert "spec_hash=ffffffffffff " in text + " "


def test_the_timeline_names_a_dead_decision() -> None:
    events = [
        accepted(),
        *failed_attempt("structural", "parse-errors"),
        JobDied(at=5.0, reason="structural failure: parse errors", rule="parse-errors"),
    ]
    text = "\n".join(render_timeline(recorded(events)))
    assert "decision: dead: structural failure: parse errors" in text
