"""The one writer of job streams settles races and lost writers, and tells its listeners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actors.job.messages import Accept, BeginAttempt, Cancel
from actors.job.stream import JobStreams, Transition
from actors.stream_names import job_stream
from eventlog.errors import ConcurrencyConflictError, WriterLostError
from eventlog.events import JobAccepted, spec_raw
from eventlog.sqlite.store import SQLiteEventLog

JOB = "orch_ds_20240101T000000Z_20240102T000000Z_0123456789ab"
ACCEPT = Accept(
    at=0,
    job_id=JOB,
    datasource="ds",
    interval="i",
    spec=spec_raw({"type": "index_parallel"}),
    spec_hash="h",
    max_attempts=3,
)


class LosingLog:
    """Appends through the real log, but the first `losses` answers are lost: after the
    commit when `committed`, before it otherwise."""

    def __init__(self, log: SQLiteEventLog, *, losses: int, committed: bool) -> None:
        self.log = log
        self.losses = losses
        self.committed = committed

    async def append(self, *args: Any, **kwargs: Any) -> Any:
        if self.losses:
            self.losses -= 1
            if self.committed:
                await self.log.append(*args, **kwargs)
            raise WriterLostError("the writer was killed", how="signal 9")
        return await self.log.append(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


async def events_of(log: SQLiteEventLog) -> list[Any]:
    return [r.event for r in await log.read_stream(job_stream(JOB))]


@pytest.mark.parametrize("committed", [True, False])
async def test_a_write_whose_writer_died_is_recorded_exactly_once(
    tmp_path: Path, committed: bool
) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        streams = JobStreams(LosingLog(log, losses=1, committed=committed))  # type: ignore[arg-type]
        heard: list[Transition] = []
        streams.listen(heard.append)
        recorded = await streams.record(JOB, ACCEPT)
        assert [type(e) for e in await events_of(log)] == [JobAccepted]
        assert recorded.state.phase == "accepted"
        assert heard == [recorded]


async def test_a_lost_write_that_never_landed_is_raised_once_the_tries_are_spent(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        streams = JobStreams(LosingLog(log, losses=2, committed=False))  # type: ignore[arg-type]
        heard: list[Transition] = []
        streams.listen(heard.append)
        with pytest.raises(WriterLostError):
            await streams.record(JOB, ACCEPT, tries=2)
        assert await events_of(log) == []
        assert heard == []


async def test_a_raced_write_is_decided_again_on_what_the_stream_now_holds(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        streams = JobStreams(log)
        stale = (await streams.record(JOB, ACCEPT)).state
        await streams.record(JOB, BeginAttempt(at=1), state=stale)
        # On the stale state (no attempt yet) the cancel would end the job outright; on the
        # stream's, an attempt is being submitted, and its task must be shut down first.
        cancelled = await streams.record(JOB, Cancel(at=2, reason="user"), state=stale)
        assert (cancelled.state.version, cancelled.state.phase) == (4, "cancelling")
        with pytest.raises(ConcurrencyConflictError):
            await streams.record(JOB, BeginAttempt(at=3), state=stale, tries=1)


async def test_a_command_that_changes_nothing_writes_nothing_and_tells_no_one(
    tmp_path: Path,
) -> None:
    async with SQLiteEventLog(tmp_path / "log.db") as log:
        streams = JobStreams(log)
        await streams.record(JOB, ACCEPT)
        heard: list[Transition] = []
        stop = streams.listen(heard.append)
        again = await streams.record(JOB, ACCEPT)
        assert again.events == ()
        assert again.state.version == 1
        stop()
        await streams.record(JOB, BeginAttempt(at=1))
        assert heard == []
