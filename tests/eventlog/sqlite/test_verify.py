"""Chain verification finds the first broken link, with its seq, for each kind of tampering."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eventlog.errors import CorruptEventError
from eventlog.events import StatusObserved
from eventlog.records import ANY_VERSION
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.verify import verify_file

EVENTS = 12


async def make_log(db: Path) -> None:
    """12 events over 3 streams, interleaved: seq n belongs to stream n % 3."""
    async with SQLiteEventLog(db) as log:
        for n in range(1, EVENTS + 1):
            event = StatusObserved(at=float(n), task_id=f"t{n}", runner_status="RUNNING")
            await log.append(f"job:{n % 3}", [event], ANY_VERSION)


def edited_body(old: str, new: str) -> str:
    """SQL for an event's body with `old` replaced by `new`, still a BLOB (the tables are
    STRICT: `replace` alone yields TEXT, which the column refuses)."""
    return f"CAST(replace(body, '{old}', '{new}') AS BLOB)"


def tamper(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "events.db"
    await make_log(path)
    return path


def rehash(db: Path, seq: int) -> None:
    """Recompute one row's hash from its (edited) contents, as a careful forger would."""
    from eventlog.chain import chain_hash

    conn = sqlite3.connect(db)
    try:
        prev = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq - 1,)).fetchone()[0]
        row = conn.execute(
            "SELECT stream_id, version, type, recorded_at, body FROM events WHERE seq = ?", (seq,)
        ).fetchone()
        body = row[4].encode() if isinstance(row[4], str) else bytes(row[4])
        new = chain_hash(prev, seq, row[0], row[1], row[2], row[3], body)
        conn.execute("UPDATE events SET hash = ? WHERE seq = ?", (new, seq))
        conn.commit()
    finally:
        conn.close()


def test_an_untouched_log_verifies_and_reports_its_head(db: Path) -> None:
    report = verify_file(str(db))
    assert report.ok, report.broken
    assert (report.events, report.head_seq) == (EVENTS, EVENTS)
    assert len(report.head_hash) == 64
    report.raise_if_broken()


async def test_verify_runs_on_an_open_log_without_stopping_its_writer(db: Path) -> None:
    async with SQLiteEventLog(db) as log:
        report = await log.verify()
        await log.append(
            "job:new", [StatusObserved(at=1.0, task_id="x", runner_status="RUNNING")], 0
        )
    assert report.ok
    assert verify_file(str(db)).head_seq == EVENTS + 1


@pytest.mark.parametrize(
    ("what", "sql"),
    [
        ("body", f"UPDATE events SET body = {edited_body('RUNNING', 'PENDING')} WHERE seq = 5"),
        ("stream", "UPDATE events SET stream_id = 'job:9' WHERE seq = 5"),
        ("version", "UPDATE events SET version = version + 100 WHERE seq = 5"),
        ("time", "UPDATE events SET recorded_at = recorded_at + 1 WHERE seq = 5"),
        ("type", "UPDATE events SET type = 'status_polled' WHERE seq = 5"),
    ],
)
def test_an_edited_event_is_reported_at_its_own_seq(db: Path, what: str, sql: str) -> None:
    tamper(db, sql)
    broken = verify_file(str(db)).broken
    assert broken is not None, what
    assert (broken.seq, broken.kind) == (5, "altered")
    assert "seq 5 does not match its hash" in broken.message


def test_an_edited_and_rehashed_event_breaks_the_link_to_the_next_one(db: Path) -> None:
    tamper(db, f"UPDATE events SET body = {edited_body('RUNNING', 'SUCCESS')} WHERE seq = 5")
    rehash(db, 5)
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (6, "altered")
    assert "seq 5" in broken.message


def test_an_edited_and_rehashed_newest_event_disagrees_with_the_head(db: Path) -> None:
    tamper(db, f"UPDATE events SET body = {edited_body('RUNNING', 'FAILED')} WHERE seq = {EVENTS}")
    rehash(db, EVENTS)
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (EVENTS, "head")


def test_a_deleted_event_is_reported_as_missing_at_its_seq(db: Path) -> None:
    tamper(db, "DELETE FROM events WHERE seq IN (7, 8)")
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (7, "missing")
    assert "events 7..8 are missing" in broken.message


def test_a_deleted_event_hidden_by_renumbering_the_rest_is_found_at_its_seq(db: Path) -> None:
    tamper(
        db,
        "DELETE FROM events WHERE seq = 7",
        "UPDATE events SET seq = -seq WHERE seq > 7",
        "UPDATE events SET seq = -seq - 1 WHERE seq < 0",
    )
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.seq == 7
    assert broken.kind in ("missing", "altered", "reordered")


@pytest.mark.parametrize(("a", "b"), [(4, 5), (4, 7), (3, 9)])
def test_swapped_events_are_reported_as_reordered_at_the_first_of_them(
    db: Path, a: int, b: int
) -> None:
    tamper(
        db,
        f"UPDATE events SET seq = -1 WHERE seq = {a}",
        f"UPDATE events SET seq = {a} WHERE seq = {b}",
        f"UPDATE events SET seq = {b} WHERE seq = -1",
    )
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (a, "reordered")
    assert f"recorded as seq {b}" in broken.message


def test_a_truncated_tail_is_reported_at_the_first_missing_seq(db: Path) -> None:
    tamper(db, f"DELETE FROM events WHERE seq > {EVENTS - 3}")
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert (broken.seq, broken.kind) == (EVENTS - 2, "truncated")
    assert f"head record names seq {EVENTS}" in broken.message


async def test_opening_a_truncated_log_is_refused_with_the_first_missing_seq(db: Path) -> None:
    tamper(db, f"DELETE FROM events WHERE seq > {EVENTS - 3}")
    with pytest.raises(CorruptEventError, match=r"is truncated.*missing at seq 10") as caught:
        await SQLiteEventLog.open(db)
    assert caught.value.seq == EVENTS - 2


@pytest.mark.parametrize(
    ("sql", "seq"),
    [
        ("DELETE FROM meta WHERE key = 'head'", EVENTS),
        ("UPDATE meta SET value = '[12, \"00\"]' WHERE key = 'head'", EVENTS),
        ("UPDATE meta SET value = 'garbage' WHERE key = 'head'", None),
        (f"UPDATE meta SET value = '[{EVENTS - 1}, \"00\"]' WHERE key = 'head'", EVENTS),
    ],
)
def test_a_missing_or_edited_head_record_is_reported(db: Path, sql: str, seq: int | None) -> None:
    tamper(db, sql)
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.kind == "head"
    assert broken.seq == seq


def test_the_first_of_several_broken_links_is_the_one_reported(db: Path) -> None:
    tamper(
        db,
        f"UPDATE events SET body = {edited_body('RUNNING', 'PENDING')} WHERE seq = 9",
        "DELETE FROM events WHERE seq = 4",
    )
    broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.seq == 4


def test_raise_if_broken_names_the_file_and_the_seq(db: Path) -> None:
    tamper(db, f"UPDATE events SET body = {edited_body('RUNNING', 'PENDING')} WHERE seq = 2")
    report = verify_file(str(db))
    with pytest.raises(CorruptEventError, match=r"events\.db: .* at seq 2$") as caught:
        report.raise_if_broken()
    assert caught.value.seq == 2


def test_verify_reports_a_missing_file_instead_of_creating_one(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    broken = verify_file(str(missing)).broken
    assert broken is not None
    assert broken.kind == "file"
    assert not missing.exists()
