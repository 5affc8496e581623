"""Managed supervisors through the orchestrator against the simulator: boot reconciles them
in one listing without re-POSTing, a supervisor gone from the Overlord is applied again, the
health watcher's readings are classified and alert once, unmanaged ones are listed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from actors.orchestrator import Orchestrator
from actors.settings import OrchestratorConfig
from actors.streams.actor import GetState
from actors.streams.facade import SupervisorRefusedError, SupervisorView, UnknownSupervisorError
from actors.streams.health import StreamsConfig
from actors.streams.messages import RecordState
from actors.supervision.alerts import LogAlertSink
from overlord.client import HttpOverlord
from overlord.sim.faults import Faults
from overlord.sim.server import SimConfig, Simulator
from specs.errors import SpecError
from tests.actors.streams.test_actor import Clock, kafka_spec
from tests.service.processes import eventually

# The watcher's own rounds are driven by the tests (`poll`), not by its timer.
QUIET = OrchestratorConfig(streams=StreamsConfig(health_interval_s=3600.0))


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig())


@pytest.fixture
async def client(url: str) -> AsyncIterator[HttpOverlord]:
    overlord = HttpOverlord(url)
    try:
        yield overlord
    finally:
        await overlord.close()


async def test_a_restart_of_the_orchestrator_reconciles_in_one_listing_and_posts_nothing(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=QUIET) as orch:
        view = await orch.apply_supervisor(kafka_spec())
        assert view.in_sync
        assert view.supervisor_id == "clicks"
    sim.requests.clear()
    async with Orchestrator.open(db, url, config=QUIET) as orch:
        view = await orch.get_supervisor("clicks")
        again = await orch.apply_supervisor(kafka_spec())
        assert again.in_sync
        assert again.spec_hash == view.spec_hash
    assert sim.requests["supervisors"] == 1, "one listing at boot"
    assert sim.requests["supervisor_create"] == 0
    assert sim.stats()["supervisor_restarts"] == 0
    assert view.state == "RUNNING"


async def test_a_managed_supervisor_gone_from_the_overlord_is_confirmed_then_applied_again(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    db = tmp_path / "log.db"
    async with Orchestrator.open(db, url, config=QUIET) as orch:
        await orch.apply_supervisor(kafka_spec())
    sim.supervisors.terminate(sim.supervisors.supervisors["clicks"])  # lost behind our back
    with capture_logs() as logs:
        async with Orchestrator.open(db, url, config=QUIET) as orch:
            view = await orch.get_supervisor("clicks")
            for _ in range(100):
                if "clicks" in sim.supervisors.supervisors and view.in_sync:
                    break
                await orch.streaming.watcher.poll()
                view = await orch.get_supervisor("clicks")
    assert "clicks" in sim.supervisors.supervisors
    assert view.in_sync
    assert any(e["event"] == "supervisor_missing_reapplied" for e in logs)


async def test_the_list_shows_managed_and_unmanaged_supervisors(
    tmp_path: Path, url: str, client: HttpOverlord
) -> None:
    await client.create_supervisor(kafka_spec("theirs", "theirs"))
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUIET) as orch:
        await orch.apply_supervisor(kafka_spec())
        views = {v.supervisor_id: v for v in await orch.supervisors()}
        assert views["clicks"].managed
        assert not views["theirs"].managed
        assert views["theirs"].state == "RUNNING"
        with pytest.raises(UnknownSupervisorError):
            await orch.suspend_supervisor("theirs", by="ana")


async def test_a_bad_spec_is_refused_before_anything_is_sent(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    spec = kafka_spec()
    del spec["spec"]["ioConfig"]["topic"]
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUIET) as orch:
        with pytest.raises(SpecError):
            await orch.apply_supervisor(spec)
        assert await orch.supervisors() == []
    assert sim.requests["supervisor_create"] == 0


async def test_a_reset_needs_who_and_why_and_an_unhealthy_stream_is_classified_and_alerts_once(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    clock = Clock()
    alerts = LogAlertSink()
    async with Orchestrator.open(
        tmp_path / "log.db", url, config=QUIET, clock=clock, alerts=alerts
    ) as orch:
        await orch.apply_supervisor(kafka_spec())
        with pytest.raises(SupervisorRefusedError):
            await orch.reset_supervisor("clicks", by="ana", reason="")
        sim.set_faults(Faults(offsets_out_of_range_supervisors=["clicks"]))
        watcher = orch.streaming.watcher
        for _ in range(3):
            clock.t += 20
            await watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.health is not None)
        assert view.health == "structural"
        assert view.health_rule == "offsets-out-of-range"
        assert any("no longer available" in e for e in view.recent_errors)
        assert [a.rule for a in alerts.sent] == ["offsets-out-of-range"]
        assert sim.stats()["supervisor_resets"] == 0, "never reset on its own"
        sim.set_faults(Faults())
        clock.t += 20
        await watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.healthy is True)
        assert view.health is None
        assert view.lag is not None
        view = await orch.reset_supervisor("clicks", by="ana", reason="topic recreated")
        assert view.last_reset_by == "ana"
    assert sim.stats()["supervisor_resets"] == 1


async def settled(
    orch: Orchestrator, sid: str, done: Callable[[SupervisorView], bool]
) -> SupervisorView:
    """The view once the actor has taken what the watcher told it (asks queue behind tells)."""
    view = orch.streaming.view(await orch.streaming.manager.ask(sid, GetState()))
    assert done(view), view
    return view


async def test_a_brief_loss_of_contact_is_transient_and_alerts_nobody(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    clock = Clock()
    alerts = LogAlertSink()
    async with Orchestrator.open(
        tmp_path / "log.db", url, config=QUIET, clock=clock, alerts=alerts
    ) as orch:
        await orch.apply_supervisor(kafka_spec())
        sim.set_faults(Faults(lost_contact_supervisors={"clicks": 3600.0}))
        await orch.streaming.watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.health is not None)
        assert (view.health, view.health_rule) == ("transient", "stream-unreachable")
        assert view.detailed_state == "LOST_CONTACT_WITH_STREAM"
        sim.set_faults(Faults())
        clock.t += 30
        await orch.streaming.watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.healthy is True)
        assert view.health is None
    assert alerts.sent == []


async def test_a_healthy_unchanged_supervisor_costs_one_listing_a_round_and_no_status_call(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    clock = Clock()
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUIET, clock=clock) as orch:
        await orch.apply_supervisor(kafka_spec())
        await orch.apply_supervisor(kafka_spec("clicks-eu", "clicks-eu"))
        watcher = orch.streaming.watcher
        clock.t += 10
        await watcher.poll()  # first sight: state and lag of each
        for sid in ("clicks", "clicks-eu"):
            await settled(orch, sid, lambda v: v.state == "RUNNING")
        sim.requests.clear()
        for _ in range(3):
            clock.t += 10  # within lag_interval_s, and the directory's cache is stale
            await watcher.poll()
        assert sim.requests["supervisors"] == 3
        assert sim.requests["supervisor_status"] == 0


async def test_a_crashed_supervisor_actor_is_restarted_from_its_stream(
    tmp_path: Path, url: str
) -> None:
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUIET) as orch:
        await orch.apply_supervisor(kafka_spec())
        manager = orch.streaming.manager
        first = manager.children["clicks"]
        # Another writer moves the stream under the actor: its next write conflicts, and it
        # crashes (a tell, so no caller takes the error).
        await manager.ctx.streams.record("clicks", RecordState(at=1.0, state="IDLE"))
        first.tell(RecordState(at=2.0, state="PENDING"))
        await first.join()
        for _ in range(200):
            ref = manager.children.get("clicks")
            if ref is not None and ref is not first and ref.alive:
                break
            await asyncio.sleep(0.01)
        assert manager.restarts == 1
        view = await orch.suspend_supervisor("clicks", by="ana", reason="after the crash")
        assert view.desired == "suspended"


async def test_a_stream_never_reached_turns_structural_past_its_threshold_and_alerts_once(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    clock = Clock()
    alerts = LogAlertSink()
    async with Orchestrator.open(
        tmp_path / "log.db", url, config=QUIET, clock=clock, alerts=alerts
    ) as orch:
        await orch.apply_supervisor(kafka_spec())
        sim.set_faults(Faults(unhealthy_supervisors=["clicks"]))
        watcher = orch.streaming.watcher
        await watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.health == "transient")
        assert view.detailed_state == "UNABLE_TO_CONNECT_TO_STREAM"
        assert alerts.sent == []
        for _ in range(4):
            clock.t += 120  # the spell goes on past the rule's five minutes
            await watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.health == "structural")
        assert view.health_rule == "unable-to-connect-persists"
        assert [a.rule for a in alerts.sent] == ["unable-to-connect-persists"]
        assert alerts.sent[0].job_id == "supervisor:clicks"


async def test_an_apply_the_overlord_cannot_take_now_is_pending_then_lands_by_itself(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUIET) as orch:
        sim.set_faults(Faults(outage_s=0.5))
        view = await orch.apply_supervisor(kafka_spec())
        assert view.pending == "apply"
        again = await orch.apply_supervisor(kafka_spec())  # the same apply: no conflict
        assert again.pending == "apply"
        async with asyncio.timeout(15):
            while not view.in_sync:
                await asyncio.sleep(0.1)
                view = await orch.get_supervisor("clicks")
    assert "clicks" in sim.supervisors.supervisors
    assert sim.stats()["supervisor_restarts"] == 0


async def test_failing_streaming_tasks_are_read_by_the_batch_failure_rules(
    tmp_path: Path, url: str, sim: Simulator
) -> None:
    """UNHEALTHY_TASKS says only that tasks fail; the newest failed task's report says why,
    read by the same rules as a batch task's failure, and the alert names it."""
    sim.set_faults(Faults(failing_stream_tasks={"clicks": "parse_errors"}))
    alerts = LogAlertSink()
    async with Orchestrator.open(tmp_path / "log.db", url, config=QUIET, alerts=alerts) as orch:
        await orch.apply_supervisor(kafka_spec())
        store = sim.supervisors
        await eventually(
            lambda: store.state(store.supervisors["clicks"])[0] == "UNHEALTHY_TASKS", 20
        )
        await orch.streaming.watcher.poll()
        view = await settled(orch, "clicks", lambda v: v.health is not None)
    assert view.health == "structural"
    assert view.health_rule == "tasks-failing:parse-errors"
    assert view.health_reason is not None
    assert "the newest failed task index_kafka_clicks_" in view.health_reason
    assert [a.rule for a in alerts.sent] == ["tasks-failing:parse-errors"]
    assert sim.stats()["supervisor_resets"] == 0
