"""Property tests of the writer's core, with no event loop: `WriteConnection.commit` is a
plain function on a plain connection, so hypothesis can drive it directly.

* A state machine appends batches (fresh, stale and `ANY_VERSION` appends, closes,
  reopenings) and checks that the file always equals a simple model: per-stream lists, a
  global order, conflicts exactly where the model predicts them, a chain that verifies.
* Any single tampering with a stored log is reported at the seq where it happened.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import sqlite3
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from eventlog.events import StatusObserved, encode_event
from eventlog.records import ANY_VERSION
from eventlog.sqlite.header import check_file
from eventlog.sqlite.verify import verify_file
from eventlog.sqlite.writer import WriteConnection
from eventlog.writes.items import Appended, AppendItem, Conflict

STREAMS = ["job:a", "job:b", "job:c", "breaker:x"]


def encoded(label: str) -> tuple[str, bytes]:
    event = StatusObserved(at=1.0, task_id=label, runner_status="RUNNING")
    return "status_observed", encode_event(event)


def pending(stream: str, labels: list[str], expected: int, close: bool) -> AppendItem:
    # `done` is only used by the event loop side; commit never touches it.
    return AppendItem(stream, expected, close, [encoded(x) for x in labels])


append_spec = st.tuples(
    st.sampled_from(STREAMS),
    st.integers(min_value=1, max_value=3),  # events in the append
    st.sampled_from(["exact", "exact", "exact", "stale", "any"]),
    st.booleans(),  # close the stream
)


class LogModel(RuleBasedStateMachine):
    """The file written by WriteConnection equals a list-of-lists model."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="eventlog-model-")
        self.path = str(Path(self.tmp) / "events.db")
        self.writer = WriteConnection(self.path, "OFF")
        self.streams: dict[str, list[str]] = {}
        self.closed: set[str] = set()
        self.order: list[tuple[str, str]] = []
        self.counter = 0

    @initialize()
    def open_log(self) -> None:
        self.writer.open()

    @rule(batch=st.lists(append_spec, min_size=1, max_size=6), now=st.floats(0, 2e9))
    def commit_a_batch(self, batch: list[tuple[str, int, str, bool]], now: float) -> None:
        items, predicted = [], []
        tentative = {s: len(v) for s, v in self.streams.items()}
        for stream, count, mode, close in batch:
            current = tentative.get(stream, 0)
            expected = {"exact": current, "stale": current + 1, "any": ANY_VERSION}[mode]
            labels = [f"e{self.counter + i}" for i in range(count)]
            self.counter += count
            items.append(pending(stream, labels, expected, close))
            if mode == "stale":
                predicted.append(None)
            else:
                predicted.append((stream, labels, close))
                tentative[stream] = current + count
        outcomes = self.writer.commit(items, now)
        note(f"batch {batch} -> {outcomes}")
        for outcome, prediction in zip(outcomes, predicted, strict=True):
            if prediction is None:
                assert isinstance(outcome, Conflict)
                continue
            stream, labels, close = prediction
            assert isinstance(outcome, Appended)
            self.streams.setdefault(stream, []).extend(labels)
            assert outcome.version == len(self.streams[stream])
            assert outcome.last_seq - outcome.first_seq + 1 == len(labels)
            assert outcome.first_seq == len(self.order) + 1
            self.order.extend((stream, label) for label in labels)
            if close:
                self.closed.add(stream)

    @rule()
    def reopen(self) -> None:
        self.writer.close()
        self.writer = WriteConnection(self.path, "OFF")
        self.writer.open()

    @precondition(lambda self: bool(self.order))
    @invariant()
    def the_file_equals_the_model(self) -> None:
        conn = sqlite3.connect(self.path)
        try:
            rows = conn.execute("SELECT seq, stream_id, version, body FROM events ORDER BY seq")
            stored = [(seq, sid, version, bytes(body)) for seq, sid, version, body in rows]
            streams = {
                sid: (version, bool(closed))
                for sid, version, closed in conn.execute(
                    "SELECT stream_id, version, closed FROM streams"
                )
            }
        finally:
            conn.close()
        expected = []
        versions: dict[str, int] = {}
        for seq, (sid, label) in enumerate(self.order, start=1):
            versions[sid] = versions.get(sid, 0) + 1
            expected.append((seq, sid, versions[sid], encoded(label)[1]))
        assert stored == expected
        assert set(streams) == set(self.streams)
        assert {s for s, (_, closed) in streams.items() if closed} == self.closed
        assert self.writer.head_seq == len(self.order)

    @precondition(lambda self: bool(self.order))
    @invariant()
    def the_chain_verifies(self) -> None:
        # The chain after every step; the check of the -wal file (SQLite's checksum of every
        # frame, in Python: four fifths of this test's time when it ran at every step) runs
        # on the run's final, largest -wal file, in `teardown`.
        with mock.patch("eventlog.sqlite.verify.check_file"):
            report = verify_file(self.path)
        assert report.ok, report.broken
        assert report.head_hash == self.writer.head_hash.hex()

    def teardown(self) -> None:
        try:
            if self.order:
                check_file(self.path)  # the -wal file the writer left is never refused
        finally:
            self.writer.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


TestLogModel = LogModel.TestCase


# --- tampering ----------------------------------------------------------------------------

EVENTS = 30


@functools.cache
def template() -> Path:
    """A 30-event log over 4 streams, built once per run and copied for every example."""
    folder = tempfile.mkdtemp(prefix="eventlog-tamper-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "template.db"
    writer = WriteConnection(str(path), "OFF")
    writer.open()
    for n in range(EVENTS):
        writer.commit([pending(STREAMS[n % 4], [f"t{n}"], ANY_VERSION, False)], 1000.0 + n)
    writer.close()
    return path


tampering = st.one_of(
    st.tuples(st.just("edit"), st.integers(1, EVENTS), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("delete"), st.integers(1, EVENTS)),
    st.tuples(st.just("swap"), st.integers(1, EVENTS), st.integers(1, EVENTS)),
    st.tuples(st.just("truncate"), st.integers(1, EVENTS)),
)


@given(tampering)
def test_any_single_tampering_is_reported_at_the_seq_where_it_happened(change: tuple) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.db"
        shutil.copyfile(template(), db)
        conn = sqlite3.connect(db)
        kind, seq, *rest = change
        if kind == "edit":
            offset, flip = rest
            body = bytearray(
                conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
            )
            body[offset % len(body)] ^= flip
            conn.execute("UPDATE events SET body = ? WHERE seq = ?", (bytes(body), seq))
            first = seq
        elif kind == "delete":
            conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
            first = seq
        elif kind == "swap":
            other = rest[0]
            if other == seq:
                other = seq % EVENTS + 1
            conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (seq,))
            conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (seq, other))
            conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (other,))
            first = min(seq, other)
        else:
            conn.execute("DELETE FROM events WHERE seq >= ?", (seq,))
            first = seq
        conn.commit()
        conn.close()
        broken = verify_file(str(db)).broken
    assert broken is not None
    assert broken.seq == first, broken
