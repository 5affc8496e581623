"""The actor runtime's contract: spawn handshake, tell/ask/stop, crashes, backpressure."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from typing import Any

import pytest

from actors.errors import ActorStoppedError, MailboxFullError
from actors.runtime import Actor, ActorRef, spawn


class Recorder(Actor[Any]):
    mailbox_size = 4

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.started = False
        self.stopped = False
        self.gate = asyncio.Event()
        self.gate.set()

    async def on_start(self) -> None:
        await asyncio.sleep(0)
        self.started = True

    async def receive(self, message: Any) -> Any:
        await self.gate.wait()
        if message == "boom":
            raise RuntimeError("boom")
        self.seen.append(message)
        return f"got {message}"

    async def on_stop(self) -> None:
        self.stopped = True


async def test_spawn_returns_only_after_on_start_has_finished() -> None:
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        ref = await spawn(tg, actor, name="r")
        assert actor.started
        ref.stop()


async def test_spawn_raises_what_on_start_raised_and_the_ref_is_dead() -> None:
    class Broken(Recorder):
        async def on_start(self) -> None:
            raise ValueError("cannot start")

    async with asyncio.TaskGroup() as tg:
        with pytest.raises(ValueError, match="cannot start"):
            await spawn(tg, Broken(), name="broken")


async def test_messages_are_handled_one_at_a_time_in_order() -> None:
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        ref = await spawn(tg, actor, name="r")
        for n in range(3):
            ref.tell(n)
        assert await ref.ask("last") == "got last"
        assert actor.seen == [0, 1, 2, "last"]
        ref.stop()


async def test_an_exception_in_an_ask_goes_back_to_the_caller_and_the_actor_lives() -> None:
    async with asyncio.TaskGroup() as tg:
        ref = await spawn(tg, Recorder(), name="r")
        with pytest.raises(RuntimeError, match="boom"):
            await ref.ask("boom")
        assert ref.alive
        assert await ref.ask("after") == "got after"
        ref.stop()


async def test_an_exception_in_a_tell_crashes_the_actor_and_tells_its_supervisor() -> None:
    crashes: list[tuple[ActorRef[Any], BaseException]] = []
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        ref = await spawn(tg, actor, name="r", on_crash=lambda r, e: crashes.append((r, e)))
        ref.tell("boom")
        await ref.join()
        assert not ref.alive
        assert actor.stopped
        assert len(crashes) == 1
        assert crashes[0][0] is ref
        assert str(crashes[0][1]) == "boom"


async def test_a_stopped_actor_refuses_new_messages() -> None:
    async with asyncio.TaskGroup() as tg:
        ref = await spawn(tg, Recorder(), name="r")
        ref.stop()
        await ref.join()
        with pytest.raises(ActorStoppedError):
            ref.tell("late")
        with pytest.raises(ActorStoppedError):
            await ref.ask("late")


async def test_stop_drains_the_mailbox_then_stops() -> None:
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        actor.gate.clear()
        ref = await spawn(tg, actor, name="r")
        ref.tell(1)
        ref.tell(2)
        ref.stop()
        actor.gate.set()
        await ref.join()
        assert actor.seen == [1, 2]


async def test_pending_asks_fail_when_the_actor_crashes_before_reaching_them() -> None:
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        actor.gate.clear()
        ref = await spawn(tg, actor, name="r")
        ref.tell("boom")
        pending = asyncio.create_task(ref.ask("never"))
        await asyncio.sleep(0)
        actor.gate.set()
        with pytest.raises(ActorStoppedError):
            await pending
        await ref.join()


async def test_a_full_mailbox_refuses_tell_and_makes_send_wait() -> None:
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        actor.gate.clear()
        ref = await spawn(tg, actor, name="r")
        ref.tell("in hand")
        await asyncio.sleep(0)  # the actor takes it off the queue and blocks on the gate
        for n in range(Recorder.mailbox_size):
            ref.tell(n)
        with pytest.raises(MailboxFullError):
            ref.tell("overflow")
        sender = asyncio.create_task(ref.send("patient"))
        await asyncio.sleep(0.01)
        assert not sender.done()
        actor.gate.set()
        await sender
        assert await ref.ask("sync") == "got sync"
        assert actor.seen[-2:] == ["patient", "sync"]
        ref.stop()


async def test_an_ask_that_times_out_is_not_handled_later() -> None:
    async with asyncio.TaskGroup() as tg:
        actor = Recorder()
        actor.gate.clear()
        ref = await spawn(tg, actor, name="r")
        ref.tell("first")
        with pytest.raises(TimeoutError):
            await ref.ask("too late", timeout=0.01)
        actor.gate.set()
        await ref.ask("sync")
        assert "too late" not in actor.seen
        ref.stop()


async def test_cancellation_propagates_through_actors() -> None:
    async def run() -> None:
        async with asyncio.TaskGroup() as tg:
            actor = Recorder()
            actor.gate.clear()
            ref = await spawn(tg, actor, name="r")
            ref.tell("stuck")
            await asyncio.sleep(3600)

    task = asyncio.create_task(run())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_ten_thousand_idle_actors_cost_little_memory() -> None:
    class Idle(Actor[Any]):
        mailbox_size = 64

        async def receive(self, message: Any) -> None:
            return None

    count = 10_000
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with asyncio.TaskGroup() as tg:
        refs = [await spawn(tg, Idle(), name=f"idle-{n}") for n in range(count)]
        per_actor = (tracemalloc.get_traced_memory()[0] - before) / count
        tracemalloc.stop()
        for ref in refs:
            ref.stop()
    sys.stdout.write(f"\nbytes per idle actor: {per_actor:.0f}\n")
    # An asyncio task, a bounded queue and the ref: a few KB. 10,000 fit easily.
    assert per_actor < 8_000


async def test_a_cancelled_sender_passes_its_wake_up_on_to_the_next_one() -> None:
    from actors.runtime import Mailbox

    box = Mailbox(1)
    box.put_nowait(("first", None))
    cancelled = asyncio.create_task(box.put(("cancelled", None)))
    patient = asyncio.create_task(box.put(("patient", None)))
    await asyncio.sleep(0)
    assert box.get_nowait()[0] == "first"  # wakes the first waiting sender...
    cancelled.cancel()  # ...which is cancelled before it runs
    await asyncio.sleep(0)
    await asyncio.wait_for(patient, 1)
    assert box.get_nowait()[0] == "patient"
    assert box.empty()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
