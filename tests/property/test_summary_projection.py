"""The read model against the FSM: for any sequence of commands the FSM accepts, the row the
writer stores equals the view of the job's state folded from scratch.

The job FSM's state machine (`test_task_fsm_model.JobMachine`) drives the commands; every
command that records events is written as the one writer of job streams writes it (the
events and `summary_of` the new state, in one `AppendItem`) through a real `WriteConnection`
on a real file. The invariant reads the row back with the readers' query and compares it
with `JobView.of(fold(events))`, which shares no code with the projection, and with the
stream's last seq and commit time.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import msgspec
from hypothesis.stateful import invariant, precondition

from actors.job.evolve import fold
from actors.job.messages import Command
from actors.job.summary import summary_of, view_of
from actors.job.view import JobView, hold_reason
from eventlog.events import encode_event
from eventlog.sqlite.projection import queries
from eventlog.sqlite.writer import WriteConnection
from eventlog.summaries import ERROR_EXCERPT
from eventlog.writes.items import Appended, AppendItem
from eventlog.writes.summary_rows import draft
from tests.property.test_task_fsm_model import JOB, JobMachine

STREAM = f"job:{JOB}"


class ProjectedJobMachine(JobMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="summary-model-")
        self.writer = WriteConnection(str(Path(self.tmp) / "events.db"), "OFF")
        self.writer.open()
        self.last_seq = 0
        self.committed_at = 0.0

    def teardown(self) -> None:
        self.writer.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def apply(self, command: Command) -> None:
        before = len(self.events)
        version = self.state.version
        super().apply(command)
        new = self.events[before:]
        if not new:
            return
        encoded = [(str(type(e).__struct_config__.tag), encode_event(e)) for e in new]
        item = AppendItem(
            STREAM, version, self.state.terminal, encoded, summary=draft(summary_of(self.state))
        )
        now = self.tick(0.5)
        (outcome,) = self.writer.commit([item], now)
        assert isinstance(outcome, Appended), outcome
        self.last_seq, self.committed_at = outcome.last_seq, now

    @precondition(lambda self: bool(self.events))
    @invariant()
    def the_stored_row_is_the_view_of_the_folded_stream(self) -> None:
        conn = sqlite3.connect(self.writer.path)
        try:
            row = queries.one(conn, JOB)
        finally:
            conn.close()
        assert row is not None
        folded = fold(self.events)
        expected = JobView.of(folded, hold_reason(folded, {}))
        if expected.last_error is not None:
            expected = msgspec.structs.replace(
                expected, last_error=expected.last_error[:ERROR_EXCERPT]
            )
        assert view_of(row) == expected
        assert (row.version, row.position, row.changed_at) == (
            folded.version,
            self.last_seq,
            self.committed_at,
        )


TestProjectedJobMachine = ProjectedJobMachine.TestCase
