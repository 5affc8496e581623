"""Connections cut under the log (pg_terminate_backend, a server restart): the writer
reconnects at its next batch, and a follower in another process hears of commits again."""

from __future__ import annotations

import asyncio

from eventlog.events import StatusObserved
from eventlog.postgres import PostgresEventLog
from tests import pg_support
from tests.ha.test_failover import terminate_backends


def observed(n: int) -> StatusObserved:
    return StatusObserved(at=float(n), task_id="t", runner_status="RUNNING")


async def test_a_cut_writer_reconnects_and_a_cut_follower_listens_again(pg_url: str) -> None:
    await pg_support.fresh_schema(pg_url)
    async with PostgresEventLog(pg_url) as writer, PostgresEventLog(pg_url) as follower:
        feed = follower.subscribe()
        try:
            await writer.append("job:x", [observed(1)], 0)
            assert (await anext(feed)).seq == 1
            following = asyncio.ensure_future(anext(feed))  # waiting for the next commit
            await asyncio.sleep(0.1)
            assert not following.done()
            assert await terminate_backends(pg_url) >= 4
            # The scenario, not a synchronisation: the commit below comes well after the
            # follower noticed its cut, so only a new LISTEN can tell it of the commit.
            await asyncio.sleep(0.5)
            assert not following.done()
            result = await writer.append("job:x", [observed(2)], 1)
            assert result.version == 2
            got = await asyncio.wait_for(following, 5)
            assert (got.seq, got.version) == (2, 2)
            assert [r.version for r in await follower.read_stream("job:x")] == [1, 2]
        finally:
            await feed.aclose()
