"""`job_phase_counts` against the rows, through any sequence of what changes the rows.

Since schema 5 the writer keeps the counts itself (`eventlog.sqlite.projection.schema.upsert`),
from its cache of the phases it wrote and one read of the others, instead of per-row
triggers. This machine drives a real `WriteConnection` on a real file with batches of appends
(new jobs, phase changes, the same job twice in a batch, batches that fail in the upsert or
at COMMIT),
appends by a second writer (which the first only learns of from the head), rebuilds
(`replace_all`, which deletes rows) and archived streams, each maintenance step followed by
the head's reload that the log's maintenance path does. After every step the stored counts
must equal the model's and a GROUP BY of the rows.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, cast

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from eventlog.records import ANY_VERSION
from eventlog.sqlite.projection import queries
from eventlog.sqlite.projection.schema import replace_all
from eventlog.sqlite.writer import WriteConnection
from eventlog.summaries import JobSummary
from eventlog.writes.items import Appended, AppendItem, Archived
from eventlog.writes.summary_rows import draft, row_of

JOBS = 6
PHASES = ("submitted", "running", "succeeded", "dead")
# A batch that names this phase fails at its count statement, after its upsert: the
# writer's cache must not keep what the rolled-back batch wrote.
REFUSED = "refused"
_REFUSE = (
    "CREATE TRIGGER refuse_phase BEFORE INSERT ON job_phase_counts "
    f"WHEN new.phase = '{REFUSED}' BEGIN SELECT RAISE(ABORT, 'refused phase'); END"
)


class _FailingCommit:
    """A write connection whose next COMMIT fails when armed, as a full disk makes it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.armed and sql == "COMMIT":
            self.armed = False
            raise sqlite3.OperationalError("disk I/O error (on purpose)")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _job(n: int) -> str:
    return f"job-{n}"


def _summary(n: int, phase: str) -> JobSummary:
    return JobSummary(
        job_id=_job(n),
        datasource="ds",
        interval=f"2024-01-0{n + 1}T00:00:00Z/2024-01-0{n + 2}T00:00:00Z",
        phase=phase,
        terminal=phase in ("succeeded", "dead"),
        attempt=1,
        max_attempts=3,
    )


class PhaseCountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="phase-counts-")
        self.path = str(Path(self.tmp) / "events.db")
        self.writers = [WriteConnection(self.path, "OFF"), WriteConnection(self.path, "OFF")]
        self.commits: list[_FailingCommit] = []
        for writer in self.writers:
            writer.open()
            assert writer.conn is not None
            self.commits.append(_FailingCommit(writer.conn))
            writer.conn = cast(sqlite3.Connection, self.commits[-1])
        self.other = sqlite3.connect(self.path, isolation_level=None)
        self.other.execute(_REFUSE)
        self.rows: dict[str, str] = {}  # job id -> phase, as the table should hold
        self.archived: set[str] = set()
        self.now = 1.0

    def teardown(self) -> None:
        self.other.close()
        for writer in self.writers:
            writer.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _reload(self) -> None:
        # What `SQLiteEventLog.run_exclusive` has the writer do after any maintenance.
        for writer in self.writers:
            writer.load_head()

    @rule(
        which=st.sampled_from([0, 0, 0, 1]),
        batch=st.lists(
            st.tuples(st.integers(0, JOBS - 1), st.sampled_from(PHASES)), min_size=1, max_size=5
        ),
        failure=st.sampled_from([None, None, "count", "commit"]),
    )
    def append(self, which: int, batch: list[tuple[int, str]], failure: str | None) -> None:
        refused = failure == "commit" or (
            failure == "count" and _job(batch[0][0]) not in self.archived
        )
        if failure == "count" and refused:
            batch = [*batch, (batch[0][0], REFUSED)]
        self.commits[which].armed = failure == "commit"
        items = [
            AppendItem(
                f"job:{_job(n)}",
                ANY_VERSION,
                False,
                [("status_observed", b'{"type":"status_observed"}')],
                summary=draft(_summary(n, phase)),
            )
            for n, phase in batch
        ]
        self.now += 1.0
        outcomes = self.writers[which].commit(items, self.now)
        if refused:
            assert not any(isinstance(o, Appended) for o in outcomes), outcomes
            return
        for (n, phase), outcome in zip(batch, outcomes, strict=True):
            if _job(n) in self.archived:
                assert isinstance(outcome, Archived), outcome
            else:
                assert isinstance(outcome, Appended), outcome
                self.rows[_job(n)] = phase

    @rule(
        keep=st.lists(st.tuples(st.integers(0, JOBS - 1), st.sampled_from(PHASES)), max_size=JOBS)
    )
    def rebuild(self, keep: list[tuple[int, str]]) -> None:
        """A rebuild from a fold: deletes every row but archived jobs', writes the fold's."""
        fold = {_job(n): phase for n, phase in keep if _job(n) not in self.archived}
        rows = [
            row_of(f"job:{job}", draft(_summary(int(job[4:]), phase)), 1, self.now)
            for job, phase in sorted(fold.items())
        ]
        self.writers[0].load_head()  # the other writer may have moved the head
        head = self.writers[0].head_seq
        assert replace_all(self.other, rows, head) == (True, head)
        self.rows = {j: p for j, p in self.rows.items() if j in self.archived} | fold
        self._reload()

    @rule(n=st.integers(0, JOBS - 1))
    def archive(self, n: int) -> None:
        """Retention archives a closed job's stream; its row stays."""
        found = self.other.execute(
            "UPDATE streams SET closed = 1, archived_at = ? WHERE stream_id = ?",
            (self.now, f"job:{_job(n)}"),
        )
        if found.rowcount:
            self.archived.add(_job(n))
        self._reload()

    @invariant()
    def the_counts_are_the_rows(self) -> None:
        stored = queries.phase_counts(self.other)
        want = {p: c for p, c in Counter(self.rows.values()).items() if c}
        assert stored == want
        assert queries.counted_phases(self.other) == want


TestPhaseCountMachine = PhaseCountMachine.TestCase
