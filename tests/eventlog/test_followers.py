"""The follower loop both backends share: an outage, and a commit met between read and wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from eventlog.errors import EventLogUnavailableError
from eventlog.events import TaskSucceeded
from eventlog.followers import Followable
from eventlog.postgres.reader import LogReader as PostgresReader
from eventlog.records import Recorded
from eventlog.sqlite.reader import LogReader as SQLiteReader


def _recorded(seq: int) -> Recorded:
    return Recorded(seq, "task-1", seq, 1.0, TaskSucceeded(at=1.0, task_id="t", duration_ms=seq))


class _Log(Followable):
    """Events 1..`tip`; the first read fails as a cut connection would, if told to."""

    def __init__(self, tip: int, *, outage: bool) -> None:
        super().__init__()
        self.tip = tip
        self.outage = outage
        self.alive = True

    def _writer_alive(self) -> bool:
        return self.alive

    async def read_all(self, after_seq: int = 0, *, chunk: int = 1000) -> AsyncIterator[Recorded]:
        if self.outage:
            self.outage = False
            raise EventLogUnavailableError("the connection was cut")
        for seq in range(after_seq + 1, self.tip + 1):
            yield _recorded(seq)


class _LikePostgres(_Log):
    OUTAGE_PAUSE_S = PostgresReader.OUTAGE_PAUSE_S


class _LikeSQLite(_Log):
    OUTAGE_PAUSE_S = SQLiteReader.OUTAGE_PAUSE_S


async def _take(feed: AsyncIterator[Recorded], n: int) -> list[int]:
    return [(await anext(feed)).seq for _ in range(n)]


async def test_a_follower_of_postgres_reads_on_from_where_it_was_after_an_outage() -> None:
    log = _LikePostgres(2, outage=True)
    assert await asyncio.wait_for(_take(log.subscribe(), 2), 5) == [1, 2]


async def test_a_follower_of_sqlite_is_told_of_an_outage() -> None:
    log = _LikeSQLite(2, outage=True)
    with pytest.raises(EventLogUnavailableError, match="cut"):
        await anext(log.subscribe())


async def test_a_follower_wakes_for_a_commit_and_ends_when_the_writer_is_gone() -> None:
    log = _LikeSQLite(1, outage=False)
    feed = log.subscribe()
    assert await _take(feed, 1) == [1]
    log.tip = 2
    log._notify_committed()
    assert await asyncio.wait_for(_take(feed, 1), 5) == [2]
    log.alive = False
    log._notify_committed()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(feed), 5)
