"""Retention on PostgreSQL keeps the SQLite log's contract (tests/eventlog/test_retention.py):
the same scenarios, the same archives and checkpoints, the chain verifiable across the gaps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from eventlog.errors import StreamArchivedError
from eventlog.postgres import PostgresEventLog
from eventlog.postgres.retention import archive_closed_streams_pg
from eventlog.records import ANY_VERSION
from eventlog.retention.archive import read_archive, verify_archive
from service.retention import RetentionSection, retention_pass
from tests import pg_support
from tests.eventlog.test_retention import Clock, build, edit_second_event, finish, running

Opener = Callable[[Clock], AbstractAsyncContextManager[PostgresEventLog]]


@pytest.fixture
async def opener(pg_url: str) -> Opener:
    await pg_support.fresh_schema(pg_url)

    @asynccontextmanager
    async def open_log(clock: Clock) -> AsyncIterator[PostgresEventLog]:
        log = await PostgresEventLog.open(pg_url, clock=clock)
        try:
            yield log
        finally:
            await log.close()

    return open_log


async def test_old_finished_streams_are_archived_and_the_chain_still_verifies(
    tmp_path: Path, opener: Opener
) -> None:
    clock = Clock()
    async with opener(clock) as log:
        await build(log, clock)  # type: ignore[arg-type]
        report = await archive_closed_streams_pg(
            log, older_than=2000.0, directory=tmp_path / "archive", clock=clock
        )
        assert (report.streams, report.events) == (2, 4)
        assert [r.seq async for r in log.read_all()] == [2, 5, 7, 8]
        assert await log.read_stream("job:a") == []
        assert await log.load_snapshot("job:a", 1) is None
        assert await log.open_streams("job:") == [("job:l", 2)]
        assert ("job:a", 2, True) in await log.all_streams("job:")
        assert await log.archived("job:a") == (2, 5000.0)
        chain = await log.verify(archives=True)
        assert chain.ok, chain.broken
        assert (chain.events, chain.archived, chain.checkpoints) == (4, 4, 3)
        # New appends continue the chain; an archived stream takes no new events.
        assert (await log.append("job:n", [running(9)], 0)).first_seq == 9
        with pytest.raises(StreamArchivedError, match=r"'job:a' was archived at 5000\.0"):
            await log.append("job:a", [running(3)], ANY_VERSION)
        with pytest.raises(StreamArchivedError):
            await log.append("job:a", [running(3)], 2, reopen_stream=True)
        assert (await log.verify(archives=True)).ok
        # A second pass leaves adjacent checkpoints that still verify.
        clock.now = 9000.0
        await finish(log, "job:l", 2)  # type: ignore[arg-type]
        again = await archive_closed_streams_pg(
            log, older_than=10_000.0, directory=tmp_path / "archive", group=1, clock=clock
        )
        assert again.streams == 2  # job:l and job:r (job:n is still open)
        chain = await log.verify(archives=True)
        assert chain.ok, chain.broken
        assert chain.archived == 9
    [archive] = report.archives
    assert [(r.first_seq, r.after_seq) for r in verify_archive(archive).runs] == [
        (1, 1),
        (3, 4),
        (6, 6),
    ]
    _header, events = read_archive(archive)
    assert [(e.stream_id, e.seq) for e in events] == [
        ("job:a", 1),
        ("job:b", 3),
        ("job:a", 4),
        ("job:b", 6),
    ]


async def test_a_tampered_checkpoint_or_archive_breaks_the_chain(
    tmp_path: Path, opener: Opener, pg_url: str
) -> None:
    clock = Clock()
    async with opener(clock) as log:
        await build(log, clock)  # type: ignore[arg-type]
        report = await archive_closed_streams_pg(log, older_than=2000.0, directory=tmp_path)
        edit_second_event(Path(report.archives[0]))
        broken = (await log.verify(archives=True)).broken
        assert broken is not None
        assert (broken.kind, broken.seq) == ("archive", 1)
        assert (await log.verify()).ok, "without archives=True only the database is checked"
        await pg_support.tamper(
            pg_url, "UPDATE checkpoints SET prev_hash = hash WHERE first_seq = 6"
        )
        broken = (await log.verify()).broken
        assert broken is not None
        assert (broken.kind, broken.seq) == ("checkpoint", 6)
        await pg_support.tamper(pg_url, "DELETE FROM checkpoints WHERE first_seq = 3")
        broken = (await log.verify()).broken
        assert broken is not None
        assert (broken.kind, broken.seq) == ("missing", 3)


async def test_the_daemons_retention_pass_archives_on_postgres_into_the_configured_folder(
    tmp_path: Path, opener: Opener
) -> None:
    clock = Clock()
    async with opener(clock) as log:
        await build(log, clock)  # type: ignore[arg-type]
        nowhere = RetentionSection(keep_days=0)
        assert (await retention_pass(log, log.url, nowhere, now=2000.0)).streams == 0
        section = RetentionSection(keep_days=0, directory=str(tmp_path / "kept"))
        report = await retention_pass(log, log.url, section, now=2000.0)
        assert report.streams == 2
        assert all(Path(p).parent == tmp_path / "kept" for p in report.archives)
        assert (await log.verify(archives=True)).ok
