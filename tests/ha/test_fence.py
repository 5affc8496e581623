"""The fence: an append made under a lost lease fails alone, distinctly, with nothing written."""

from __future__ import annotations

import pytest

from eventlog.events import StatusObserved
from eventlog.postgres import Fence, FencedOffError, PostgresEventLog
from eventlog.postgres.lease import Lease
from tests import pg_support


def observed(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id="t", runner_status="RUNNING")


async def test_a_deposed_leaders_append_is_refused_and_the_epoch_only_grows(pg_url: str) -> None:
    await pg_support.fresh_schema(pg_url)
    lease = Lease(pg_url)
    await lease.prepare()
    fenced: list[FencedOffError] = []
    try:
        # Long enough for a loaded machine: the test ends it itself (`_expire`).
        first = await lease.acquire("a", 30, "http://a")
        assert first == 1
        assert await lease.acquire("b", 5, "http://b") is None, "a live lease is not taken"
        async with PostgresEventLog(pg_url) as log:
            log.fence(Fence("a", first), fenced.append)
            await log.append("job:x", [observed(1)], 0)
            # "a" pauses past its lease; "b" takes over with a higher epoch.
            await _expire(pg_url)
            second = await lease.acquire("b", 5, "http://b")
            assert second == 2
            with pytest.raises(FencedOffError, match="no longer leads"):
                await log.append("job:x", [observed(2)], 1)
            assert len(fenced) == 1
            assert not await lease.renew("a", first, 5), "a lost lease is not renewed"
            assert [r.version for r in await log.read_stream("job:x")] == [1]
            assert await log.last_seq() == 1
            log.fence(Fence("b", second), fenced.append)
            await log.append("job:x", [observed(2)], 1)
        leader = await lease.leader()
        assert (leader.holder, leader.epoch, leader.advertise_url, leader.live) == (
            "b",
            2,
            "http://b",
            True,
        )
        await lease.release("b", 2)  # a leader stopping hands over at once
        assert await lease.acquire("c", 5, None) == 3
    finally:
        await lease.close()


async def _expire(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE leadership SET expires_at = clock_timestamp()")
    finally:
        await conn.close()
