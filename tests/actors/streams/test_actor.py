"""The supervisor actor against the simulator: applies are idempotent across restarts,
console drift is recorded, a person's actions reach the Overlord, and a reset whose answer
was lost is never sent again."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from actors.errors import BreakerOpenError
from actors.runtime import ActorRef, spawn
from actors.streams.actor import GetState, SupervisorActor, SupervisorContext, holds
from actors.streams.messages import (
    Apply,
    Command,
    RecordActionFailed,
    RecordReset,
    RecordState,
    Reset,
    Resume,
    Suspend,
    Terminate,
)
from actors.streams.state import SupervisorState
from actors.streams.stream import SupervisorStreams
from actors.supervision.alerts import LogAlertSink
from actors.supervision.classification import load_rules
from actors.supervision.policy import RetryPolicy
from eventlog.events import (
    SupervisorApplied,
    SupervisorHealthClassified,
    SupervisorHeldObserved,
)
from eventlog.sqlite import SQLiteEventLog
from overlord.client import HttpOverlord
from overlord.errors import OverlordUnavailableError
from overlord.sim.server import Simulator
from specs.supervisors import supervisor_from_spec


def kafka_spec(supervisor_id: str = "clicks", topic: str = "clicks") -> dict[str, Any]:
    return {
        "type": "kafka",
        "id": supervisor_id,
        "spec": {
            "dataSchema": {
                "dataSource": "clicks",
                "timestampSpec": {"column": "ts"},
                "dimensionsSpec": {"dimensions": ["page"]},
                "granularitySpec": {"segmentGranularity": "HOUR"},
            },
            "ioConfig": {
                "topic": topic,
                "consumerProperties": {"bootstrap.servers": "k:9092"},
                "taskDuration": "PT1H",
            },
            "tuningConfig": {"type": "kafka"},
        },
    }


def apply_of(spec: dict[str, Any], at: float = 1.0) -> Apply:
    c = supervisor_from_spec(spec)
    return Apply(
        at=at,
        supervisor_id=c.supervisor_id,
        datasource=c.datasource,
        spec=c.spec_json,
        spec_hash=c.spec_hash,
    )


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def streams(tmp_path: Path) -> AsyncIterator[SupervisorStreams]:
    log = await SQLiteEventLog.open(tmp_path / "events.db", writer="thread")
    try:
        yield SupervisorStreams(log)
    finally:
        await log.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alerts() -> LogAlertSink:
    return LogAlertSink()


@pytest.fixture
def ctx(
    streams: SupervisorStreams, overlord: HttpOverlord, clock: Clock, alerts: LogAlertSink
) -> SupervisorContext:
    return SupervisorContext(
        streams=streams,
        overlord=overlord,
        rules=load_rules().supervisor,
        alerts=alerts,
        retry=RetryPolicy(base_s=0.01, cap_s=0.02),
        clock=clock,
    )


class Running:
    """One actor at a time in a task group of the test's own."""

    def __init__(self, ctx: SupervisorContext, tg: asyncio.TaskGroup) -> None:
        self.ctx = ctx
        self.tg = tg
        self.ref: ActorRef[Any] | None = None

    async def start(self, sid: str = "clicks", initial: Sequence[Command] = ()) -> ActorRef[Any]:
        self.ref = await spawn(self.tg, SupervisorActor(sid, self.ctx, initial), name=sid)
        return self.ref

    async def ask(self, command: Command | GetState) -> SupervisorState:
        assert self.ref is not None
        state: SupervisorState = await self.ref.ask(command)
        return state

    async def stop(self) -> None:
        if self.ref is not None and self.ref.alive:
            self.ref.stop()
            await self.ref.join()


@pytest.fixture
async def running(ctx: SupervisorContext) -> AsyncIterator[Running]:
    async with asyncio.TaskGroup() as tg:
        r = Running(ctx, tg)
        try:
            yield r
        finally:
            await r.stop()


async def tags(streams: SupervisorStreams, sid: str = "clicks") -> list[str]:
    return [str(type(r.event).__struct_config__.tag) for r in await streams.history(sid)]


async def test_an_apply_creates_the_supervisor_with_one_post_and_a_second_is_no_call(
    running: Running, simulator: Simulator, streams: SupervisorStreams
) -> None:
    await running.start()
    state = await running.ask(apply_of(kafka_spec()))
    assert state.in_sync
    assert state.pending is None
    assert "clicks" in simulator.supervisors.supervisors
    again = await running.ask(apply_of(kafka_spec(), at=2.0))
    assert again.version == state.version
    assert simulator.requests["supervisor_create"] == 1
    assert simulator.stats()["supervisor_restarts"] == 0
    assert await tags(streams) == ["supervisor_apply_intended", "supervisor_applied"]


async def test_a_restarted_actor_with_a_pending_apply_asks_first_and_adopts_what_landed(
    running: Running, simulator: Simulator, streams: SupervisorStreams, overlord: HttpOverlord
) -> None:
    apply = apply_of(kafka_spec())
    # An earlier run wrote the intent and its POST landed, then it died before the answer.
    await streams.record("clicks", apply)
    await overlord.create_supervisor(kafka_spec())
    posts = simulator.requests["supervisor_create"]
    await running.start()
    state = await running.ask(GetState())
    assert state.in_sync
    assert state.pending is None
    assert simulator.requests["supervisor_create"] == posts, "no second POST"
    assert simulator.requests["supervisor_spec"] == 1
    applied = (await streams.history("clicks"))[-1].event
    assert isinstance(applied, SupervisorApplied)
    assert applied.adopted


async def test_a_restarted_actor_whose_post_never_landed_posts_after_the_404(
    running: Running, simulator: Simulator, streams: SupervisorStreams
) -> None:
    await streams.record("clicks", apply_of(kafka_spec()))
    await running.start()
    state = await running.ask(GetState())
    assert state.in_sync
    assert simulator.requests["supervisor_spec"] == 1
    assert simulator.requests["supervisor_create"] == 1


async def test_a_spec_edited_in_the_console_is_recorded_as_drift_and_our_apply_reposts(
    running: Running, simulator: Simulator, streams: SupervisorStreams, overlord: HttpOverlord
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    await overlord.create_supervisor(kafka_spec(topic="clicks-v2"))  # someone's console edit
    await running.stop()
    # The next run has an apply of ours pending and does not know what the Overlord holds.
    await streams.record("clicks", apply_of(kafka_spec(topic="clicks-v3"), at=3.0))
    await running.start()
    state = await running.ask(GetState())
    events = [r.event for r in await streams.history("clicks")]
    assert any(isinstance(e, SupervisorHeldObserved) and e.spec_hash for e in events)
    assert state.in_sync
    held = simulator.supervisors.supervisors["clicks"].spec
    assert held["spec"]["ioConfig"]["topic"] == "clicks-v3"


async def test_suspend_resume_and_terminate_reach_the_overlord_and_already_done_counts(
    running: Running, simulator: Simulator, overlord: HttpOverlord
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    await overlord.suspend_supervisor("clicks")  # already suspended by someone: 400 "already"
    state = await running.ask(Suspend(at=2.0, by="ana", reason="maintenance"))
    assert state.desired == "suspended"
    assert state.pending is None
    assert simulator.supervisors.supervisors["clicks"].suspended
    state = await running.ask(Resume(at=3.0, by="ana", reason="done"))
    assert state.desired == "running"
    assert not simulator.supervisors.supervisors["clicks"].suspended
    state = await running.ask(Terminate(at=4.0, by="ana", reason="retired"))
    assert state.terminated
    assert "clicks" not in simulator.supervisors.supervisors


async def test_a_reset_needs_a_name_and_a_reason_and_then_reaches_the_overlord(
    running: Running, simulator: Simulator
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    state = await running.ask(Reset(at=2.0, by="", reason="offsets gone"))
    assert state.pending is None
    assert simulator.stats()["supervisor_resets"] == 0
    state = await running.ask(Reset(at=2.0, by="ana", reason=" "))
    assert simulator.stats()["supervisor_resets"] == 0
    state = await running.ask(Reset(at=3.0, by="ana", reason="topic recreated"))
    assert state.last_reset_by == "ana"
    assert state.last_reset_reason == "topic recreated"
    assert simulator.stats()["supervisor_resets"] == 1


class LosesResetAnswers:
    """The real client, except that a reset reaches the Overlord and its answer is lost."""

    def __init__(self, inner: HttpOverlord) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def reset_supervisor(self, supervisor_id: str) -> None:
        await self.inner.reset_supervisor(supervisor_id)
        raise OverlordUnavailableError("supervisor_reset: connection reset after sending")


async def test_a_reset_whose_answer_was_lost_is_never_repeated_and_a_person_is_asked(
    ctx: SupervisorContext,
    running: Running,
    simulator: Simulator,
    overlord: HttpOverlord,
    alerts: LogAlertSink,
    streams: SupervisorStreams,
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    ctx.overlord = LosesResetAnswers(overlord)  # type: ignore[assignment]
    state = await running.ask(Reset(at=2.0, by="ana", reason="topic recreated"))
    assert state.pending == "reset"
    assert [a.rule for a in alerts.sent] == ["reset-unknown"]
    await running.ask(GetState())  # any later message re-drives the actor: no second reset
    assert simulator.stats()["supervisor_resets"] == 1
    # A restart asks again rather than resetting.
    await running.stop()
    await running.start()
    await running.ask(GetState())
    assert simulator.stats()["supervisor_resets"] == 1
    # A person answers.
    state = await running.ask(RecordReset(at=5.0))
    assert state.pending is None
    assert state.last_reset_by == "ana"


async def test_a_person_saying_the_lost_reset_did_not_happen_ends_the_intent(
    running: Running, streams: SupervisorStreams
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    await streams.record("clicks", Reset(at=2.0, by="ana", reason="topic recreated"))
    await running.stop()
    await running.start()  # the reset intent is an earlier run's: not sent
    answer = RecordActionFailed(at=3.0, action="reset", message="ana: it did not happen")
    state = await running.ask(answer)
    assert state.pending is None
    assert state.last_error == "ana: it did not happen"


class Ceiling(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


class BreakerOpenOnce:
    def __init__(self, inner: HttpOverlord) -> None:
        self.inner = inner
        self.refused = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def suspend_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        self.calls += 1
        if not self.refused:
            self.refused += 1
            raise BreakerOpenError("supervisor_suspend: not sent, the breaker is open")
        result: dict[str, Any] = await self.inner.suspend_supervisor(supervisor_id)
        return result


async def test_a_call_the_breaker_held_back_goes_out_after_a_backoff(
    ctx: SupervisorContext, running: Running, simulator: Simulator, overlord: HttpOverlord
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    guarded = BreakerOpenOnce(overlord)
    ctx.overlord = guarded  # type: ignore[assignment]
    ctx.retry = RetryPolicy(base_s=0.2, cap_s=0.2)
    ctx.rng = Ceiling()  # the backoff's full 0.2 s, not a jittered sliver of it
    state = await running.ask(Suspend(at=2.0, by="ana", reason="maintenance"))
    assert state.pending == "suspend"
    # Another message during the backoff does not send the call early.
    await running.ask(Resume(at=2.5, by="bo", reason="changed my mind"))
    assert guarded.calls == 1
    for _ in range(200):
        state = await running.ask(GetState())
        if state.pending is None:
            break
        await asyncio.sleep(0.01)
    assert state.desired == "suspended"
    assert guarded.refused == 1
    assert guarded.calls == 2
    assert simulator.supervisors.supervisors["clicks"].suspended


async def test_an_unhealthy_report_is_read_by_the_rules_and_a_structural_one_alerts_once(
    running: Running, streams: SupervisorStreams, alerts: LogAlertSink, clock: Clock
) -> None:
    await running.start()
    await running.ask(apply_of(kafka_spec()))
    lost = RecordState(
        at=clock(),
        state="UNHEALTHY_SUPERVISOR",
        detailed_state="UNABLE_TO_CONNECT_TO_STREAM",
        healthy=False,
        recent_errors=("StreamException: Timeout expired while fetching topic metadata",),
    )
    state = await running.ask(lost)
    assert state.health == "transient"
    assert state.health_rule == "stream-unreachable"
    assert alerts.sent == []
    clock.t += 600  # it persists past the rule's threshold
    state = await running.ask(lost)
    assert state.health == "structural"
    assert state.health_rule == "unable-to-connect-persists"
    clock.t += 600
    await running.ask(lost)
    assert [a.rule for a in alerts.sent] == ["unable-to-connect-persists"]
    state = await running.ask(RecordState(at=clock(), state="RUNNING", healthy=True))
    assert state.health is None
    readings = [
        r.event
        for r in await streams.history("clicks")
        if isinstance(r.event, SupervisorHealthClassified)
    ]
    assert [e.classification for e in readings] == ["transient", "structural"]


def test_the_overlord_holds_our_spec_when_ours_is_a_subset_of_what_it_stores() -> None:
    ours = {"type": "kafka", "spec": {"ioConfig": {"topic": "t"}, "context": {}}}
    stored = {
        "type": "kafka",
        "spec": {"ioConfig": {"topic": "t", "taskCount": 1}, "context": None},
        "ioConfig": {"topic": "t", "taskCount": 1},
    }
    assert holds(stored, ours)
    assert not holds(stored, {"type": "kafka", "spec": {"ioConfig": {"topic": "u"}}})
    assert not holds({"type": "kafka"}, ours)
    assert holds({**stored, "suspended": True}, {**ours, "suspended": False})


def test_a_spec_without_an_id_is_the_supervisor_of_its_datasource() -> None:
    no_id = {k: v for k, v in kafka_spec().items() if k != "id"}
    compiled = supervisor_from_spec(no_id)
    assert compiled.supervisor_id == "clicks"  # Druid's default: the dataSource
    assert b'"id":"clicks"' in bytes(compiled.spec_json)  # written in, whatever Druid's default
