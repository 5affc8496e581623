"""The walking skeleton end to end: simulator + actors + event log, as `druid-orch demo`."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from actors.job.evolve import fold
from actors.stream_names import job_stream
from eventlog.events import (
    FailureClassified,
    JobAccepted,
    JobDied,
    RetryScheduled,
    SubmitIntended,
    Submitted,
    TaskSucceeded,
)
from eventlog.sqlite.store import SQLiteEventLog
from service.demo import CORRUPT_DAY, demo_jobs, run_demo


async def test_demo_runs_every_job_to_its_expected_state_and_the_log_tells_each_story(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.db"
    out = io.StringIO()
    code = await run_demo(jobs=10, seed=7, db=str(db), out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "all jobs reached their expected state" in text
    assert f"event log {db}" in text  # kept, so it can be audited afterwards
    assert "duplicate submissions: 0" in text
    assert "most live tasks for one interval: 1" in text
    # The hybrid half: a backfill held at the watermark, no overlap, a stream problem reported.
    assert "hybrid: every day ingested behind the watermark" in text
    assert "held: waiting for the streaming watermark (now " in text
    assert "overlapped the stream: 0; supervisor restarts: 0; duplicate submissions: 0" in text
    assert "ALERT supervisor:views: structural (offsets-out-of-range)" in text
    alert = next(line for line in text.splitlines() if line.startswith("ALERT supervisor:"))
    assert alert.endswith("only a person may reset them"), "the Java exception is the log's"

    jobs = demo_jobs(10)
    async with SQLiteEventLog(db) as log:
        retried = 0
        for index, job in enumerate(jobs):
            records = await log.read_stream(job_stream(job.job_id))
            events = [r.event for r in records]
            assert isinstance(events[0], JobAccepted)
            state = fold(events)
            intents = [e for e in events if isinstance(e, SubmitIntended)]
            submitted = [e for e in events if isinstance(e, Submitted)]
            # every submission is preceded by its own intent, attempts count up from 1
            assert [e.attempt for e in intents] == list(range(1, len(intents) + 1))
            for sub in submitted:
                first_intent = next(
                    i for i, e in enumerate(events) if e is intents[sub.attempt - 1]
                )
                assert first_intent < events.index(sub)
            retried += sum(isinstance(e, RetryScheduled) for e in events)
            if index == CORRUPT_DAY:
                assert state.phase == "dead"
                classified = [e for e in events if isinstance(e, FailureClassified)]
                assert [c.classification for c in classified] == ["structural"]
                assert isinstance(events[-1], JobDied)
                assert not any(isinstance(e, RetryScheduled) for e in events)
            else:
                assert state.phase == "succeeded"
                assert isinstance(events[-1], TaskSucceeded)
        assert retried > 0, "the demo should show the transient-retry path"


DEMO_ARGS = ("--jobs", "8", "--seed", "3", "--only", "batch")


def test_demo_command_exits_zero_on_a_fresh_temporary_log() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "demo", *DEMO_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all jobs reached their expected state" in result.stdout
    # The log is removed at the end: the output must not name a path that will not exist.
    assert "a temporary event log (--db PATH keeps it)" in result.stdout
    assert "batch and streaming" not in result.stdout
    # It teaches: a retry with its classified reason and when, the dead day's reason and the
    # command that would run it again, an alert as one line, and what to try next; quietly.
    assert re.search(r"RETRY 2024-01-0\d: attempt 2 after \d+\.\d s, transient \(", result.stdout)
    assert (
        "ALERT wikipedia/2024-01-07: structural failure, rule parse-errors: not retried"
        in result.stdout
    )
    assert "`druid-orch retry wikipedia/2024-01-07` runs it again" in result.stdout
    assert "Try next" in result.stdout
    assert "druid-orch sim --scenario flaky" in result.stdout
    assert result.stderr == ""
