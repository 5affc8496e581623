"""What the client sends again and what it never does, and logs that grow while we read."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import OverlordUnavailableError, TaskAlreadyExistsError
from overlord.sim.server import Faults

from .conftest import MakeTarget, Target, noop, unique_id
from .support import Canned, ReplayServer


async def test_an_idempotent_get_is_retried_through_errors_up_to_its_limit(
    replay_client: tuple[ReplayServer, HttpOverlord],
) -> None:
    canned, client = replay_client
    canned.push(Canned(500, b'{"error": "boom"}'), Canned(503), Canned(200, b"true"))
    assert await client.health() is True
    canned.push(*[Canned(500, b'{"error": "boom"}')] * 3)
    with pytest.raises(OverlordUnavailableError) as caught:
        await client.health()
    assert caught.value.druid_message == "boom"
    assert len(canned.seen) == 3 + 3, "three attempts each, no more"


async def test_a_refused_connection_is_retried_even_for_a_submission() -> None:
    async with HttpOverlord(
        "http://127.0.0.1:9", retry=RequestRetryPolicy(3, 0.001, 0.002)
    ) as client:
        with pytest.raises(OverlordUnavailableError):
            await client.submit(noop("never_reached"))
        assert client.requests == 3


async def test_a_lost_answer_to_a_submission_is_not_resent_and_the_task_is_found_afterwards(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    sim = target.need_sim()
    client = target.client()
    sim.set_faults(Faults(reset_after_rate={"submit": 1.0}))
    with pytest.raises(OverlordUnavailableError) as caught:
        await client.submit(noop("landed_anyway"))
    assert caught.value.maybe_applied
    assert sim.requests["submit"] == 1
    sim.set_faults(Faults())
    # What a task actor does with its intent: submit again, learn it exists, look it up.
    with pytest.raises(TaskAlreadyExistsError):
        await client.submit(noop("landed_anyway"))
    assert (await client.status("landed_anyway")).id == "landed_anyway"
    assert sim.stats()["duplicate_submissions"] == 1
    assert sim.stats()["faults_injected"]["resets_after"] == 1


async def test_shutdown_is_retried_because_repeating_it_is_harmless(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    sim = target.need_sim()
    client = target.client()
    task_id = await client.submit(noop("to_stop", run_ms=60_000))
    sim.set_faults(Faults(reset_after_rate={"shutdown": 1.0}))
    with pytest.raises(OverlordUnavailableError):
        await client.shutdown(task_id)
    assert sim.requests["shutdown"] == 3
    sim.set_faults(Faults())
    assert (await client.status(task_id)).status_code == "FAILED"


async def test_backoff_delays_are_full_jitter_below_a_growing_cap() -> None:
    policy = RequestRetryPolicy(attempts=6, base_s=0.1, cap_s=0.5)
    rng = random.Random(1)
    for attempt, ceiling in enumerate([0.1, 0.2, 0.4, 0.5, 0.5]):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8, "jitter spreads over the whole range"


async def test_follow_log_streams_a_running_tasks_log_until_it_finishes(target: Target) -> None:
    client = target.client()
    task_id = await client.submit(noop(unique_id("followed"), run_ms=400))
    chunks: list[str] = []
    async with asyncio.timeout(target.wait_s + 10):
        async for text in client.follow_log(task_id, poll_s=0.05):
            chunks.append(text)
    assert len(chunks) >= 1
    assert "".join(chunks) == await client.log(task_id)
    assert (await client.status(task_id)).status_code == "SUCCESS"


class GrowingLog:
    """A task whose log grows by a few bytes per poll, splitting multi-byte characters."""

    def __init__(self, text: str, step: int) -> None:
        self.data = text.encode()
        self.visible = 0
        self.step = step

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/druid/indexer/v1/task/t/log", self.log)
        app.router.add_get("/druid/indexer/v1/task/t/status", self.status)
        return app

    async def log(self, request: web.Request) -> web.Response:
        self.visible = min(len(self.data), self.visible + self.step)
        offset = int(request.query["offset"])
        shown = self.data[: self.visible]
        return web.Response(body=shown[offset:])  # negative: the last |offset| bytes

    async def status(self, _request: web.Request) -> web.Response:
        state = "RUNNING" if self.visible < len(self.data) else "SUCCESS"
        body = f'{{"task": "t", "status": {{"id": "t", "statusCode": "{state}"}}}}'
        return web.Response(text=body, content_type="application/json")


@pytest.mark.parametrize("step", [1, 2, 3, 7])
async def test_follow_log_never_breaks_a_character_split_between_reads(step: int) -> None:
    text = "día 1: ingesta ✓\nnäive 東京 🚀\nfin\n"
    server = TestServer(GrowingLog(text, step).app())
    await server.start_server()
    try:
        async with HttpOverlord(str(server.make_url("")).rstrip("/")) as client:
            async with asyncio.timeout(10):
                chunks = [c async for c in client.follow_log("t", poll_s=0.001)]
    finally:
        await server.close()
    assert "".join(chunks) == text
    assert "\ufffd" not in "".join(chunks)


async def test_a_negative_offset_reads_the_tail_starting_on_a_whole_character() -> None:
    text = "🚀🚀🚀 end\n"
    growing = GrowingLog(text, len(text.encode()))
    growing.visible = len(growing.data)
    server = TestServer(growing.app())
    await server.start_server()
    try:
        async with HttpOverlord(str(server.make_url("")).rstrip("/")) as client:
            tail = await client.log("t", -7)  # cuts into the last rocket's four bytes
            followed = [c async for c in client.follow_log("t", start=-9, poll_s=0.001)]
    finally:
        await server.close()
    assert tail == " end\n"
    assert "".join(followed) == "🚀 end\n"
