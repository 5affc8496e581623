"""The watermark gate against the simulator's streams: which supervisors guard a datasource,
what a job is told (go, go clipped, wait, and why), and how few calls a backfill costs.

The simulator's wall clock is injected, so its supervisor creates each streaming task at a
known instant and gives it `minimumMessageTime = now - lateMessageRejectionPeriod`; event
time runs at wall speed from that clock (no `stream_event_start`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
import pytest

from actors.job.actor import AttemptPlan, SubmissionGate
from actors.job.state import JobState
from actors.streams.directory import SupervisorDirectory
from actors.supervision.breakers import Admission, Breakers
from actors.supervision.slots import SlotBudget
from actors.supervision.watermark_gate import WatermarkGate, WatermarkPolicy
from eventlog.events import WatermarkRecord, spec_raw
from overlord.client import HttpOverlord
from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.contract.support import until

W0 = datetime(2024, 1, 5, 10, 30, tzinfo=UTC).timestamp()
HOUR = 3600.0
DS = "clicks"


class Clock:
    def __init__(self) -> None:
        self.now = W0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def simulator(clock: Clock) -> Simulator:
    config = ClusterConfig(seed=3, lock_delay_s=0, stream_late_data=True)
    return Simulator(SimConfig(cluster=config), wall=clock)


def supervisor(datasource: str = DS, supervisor_id: str | None = None, **io: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "kafka",
        "spec": {
            "dataSchema": {
                "dataSource": datasource,
                "timestampSpec": {"column": "ts"},
                "dimensionsSpec": {"dimensions": []},
                "granularitySpec": {"segmentGranularity": "HOUR"},
            },
            "ioConfig": {
                "topic": datasource,
                "taskDuration": "PT1H",
                "consumerProperties": {"bootstrap.servers": "k:9092"},
                **io,
            },
            "tuningConfig": {"type": "kafka"},
        },
    }
    if supervisor_id is not None:
        spec["id"] = supervisor_id
    return spec


def job(
    job_id: str,
    interval: str,
    *,
    granularity: str | None = "DAY",
    datasource: str = DS,
    watermark_from: str | None = None,
) -> JobState:
    schema: dict[str, Any] = {
        "dataSource": datasource,
        "granularitySpec": {"intervals": [interval]},
    }
    if granularity is not None:
        schema["granularitySpec"]["segmentGranularity"] = granularity
    spec = {"type": "index_parallel", "spec": {"dataSchema": schema}}
    return JobState(
        job_id=job_id,
        phase="accepted",
        datasource=datasource,
        interval=interval,
        spec=msgspec.Raw(msgspec.json.encode(spec)),
        watermark_from=watermark_from,
    )


def gate_for(overlord: HttpOverlord, clock: Clock, **policy: Any) -> WatermarkGate:
    return WatermarkGate(
        overlord, SupervisorDirectory(overlord, clock), clock, WatermarkPolicy(**policy)
    )


async def streaming(overlord: HttpOverlord, sim: Simulator, **io: Any) -> None:
    await overlord.create_supervisor(supervisor(**io))
    await until(lambda: bool(live_tasks(sim)))


def live_tasks(sim: Simulator, supervisor_id: str = DS) -> list[Any]:
    sup = sim.supervisors.supervisors.get(supervisor_id)
    return [] if sup is None else list(sim.supervisors.live_tasks(sup))


async def roll_over(sim: Simulator, clock: Clock, seconds: float) -> None:
    """Move the clock on and end the streaming tasks, as their taskDuration timer would."""
    clock.now += seconds
    old = {t.id for t in live_tasks(sim)}
    for task_id in old:
        sim.cluster.outcomes.finish(task_id)
    await until(lambda: bool(live_tasks(sim)) and not old & {t.id for t in live_tasks(sim)})


CALLS = ("supervisor_status", "supervisor_spec", "task_spec", "coverage")


def calls(sim: Simulator) -> dict[str, int]:
    return {name: sim.requests[name] for name in CALLS if sim.requests[name]}


# --- no stream ---------------------------------------------------------------------------


async def test_a_datasource_no_supervisor_writes_is_not_gated_and_costs_only_the_shared_list(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")  # writes clicks
    gate = gate_for(overlord, clock)
    simulator.requests.clear()
    other = job("views-1", "2030-01-01T00:00:00Z/2030-01-02T00:00:00Z", datasource="views")
    assert await gate.submit_delay(other) is None
    plan = await gate.plan(other)
    assert (plan.wait, plan.interval, plan.watermark) == (None, None, None)
    assert await gate.recheck(other) is None
    assert gate.held == {}
    # The directory's one bulk read; its spec read learns which datasource `clicks` writes.
    assert simulator.requests["supervisors"] == 1
    assert "supervisor_status" not in calls(simulator)
    assert "task_spec" not in calls(simulator)


# --- go, go clipped, wait -----------------------------------------------------------------


async def test_a_job_wholly_before_the_aligned_watermark_goes_as_it_is_with_the_watermark(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock)
    plan = await gate.plan(job("j", "2024-01-03T00:00:00Z/2024-01-05T00:00:00Z"))
    assert plan.wait is None
    assert plan.interval is None
    assert plan.watermark == WatermarkRecord(
        at="2024-01-05T09:30:00.000Z",  # the task's minimumMessageTime: 10:30 - PT1H
        aligned="2024-01-05T00:00:00.000Z",
        source="task-minimum-message-time",
        detail="earliest minimumMessageTime of 1 streaming task(s)",
        supervisors=("clicks",),
    )


async def test_a_job_straddling_the_watermark_is_clipped_at_its_segment_granularity(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock)
    daily = await gate.plan(job("d", "2024-01-03T00:00:00Z/2024-01-07T00:00:00Z"))
    assert daily.interval == "2024-01-03T00:00:00.000Z/2024-01-05T00:00:00.000Z"
    hourly = await gate.plan(
        job("h", "2024-01-05T00:00:00Z/2024-01-06T00:00:00Z", granularity="HOUR")
    )
    assert hourly.interval == "2024-01-05T00:00:00.000Z/2024-01-05T09:00:00.000Z"
    assert hourly.watermark is not None
    assert hourly.watermark.aligned == "2024-01-05T09:00:00.000Z"


async def test_a_job_at_or_past_the_aligned_watermark_waits_with_the_reason(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock, recheck_s=7.0)
    held = job("j", "2024-01-05T00:00:00Z/2024-01-08T00:00:00Z")
    assert await gate.submit_delay(held) == 7.0
    reason = "waiting for the streaming watermark (now 2024-01-05T09:30Z) to pass 2024-01-06T00:00Z"
    assert gate.held == {"j": reason}
    assert (await gate.plan(held)).wait == 7.0


async def test_with_an_unknown_granularity_a_job_is_not_clipped_but_waits_for_its_end(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock)
    unknown = job("u", "2024-01-04T00:00:00Z/2024-01-06T00:00:00Z", granularity=None)
    assert await gate.submit_delay(unknown) is not None
    assert gate.held["u"] == (
        "waiting for the streaming watermark (now 2024-01-05T09:30Z) to pass 2024-01-06T00:00Z"
    )
    before = await gate.plan(
        job("b", "2024-01-04T00:00:00Z/2024-01-05T09:00:00Z", granularity=None)
    )
    assert before.interval is None
    assert before.watermark is not None
    assert before.watermark.aligned is None


# --- no safe watermark --------------------------------------------------------------------


async def test_a_stream_without_a_rejection_window_holds_every_job_of_its_datasource(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator)
    gate = gate_for(overlord, clock)
    assert await gate.submit_delay(job("j", "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z"))
    reason = gate.held["j"]
    assert reason.startswith("no safe streaming watermark for clicks: supervisor clicks: ")
    assert reason.endswith("(rule no-rejection-window)")
    assert (await gate.plan(job("j", "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z"))).wait


async def test_a_watermark_from_supervisor_the_overlord_cannot_show_holds_the_job(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    gate = gate_for(overlord, clock)
    named = job("j", "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z", watermark_from="ghost")
    assert await gate.submit_delay(named) is not None
    assert gate.held["j"].startswith(
        "no safe streaming watermark for clicks: supervisor ghost could not be read ("
    )


async def test_a_suspended_supervisor_still_guards_its_datasource(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT2H")
    await overlord.suspend_supervisor(DS)
    await until(lambda: not live_tasks(simulator))
    gate = gate_for(overlord, clock)
    plan = await gate.plan(
        job("j", "2024-01-05T00:00:00Z/2024-01-05T12:00:00Z", granularity="HOUR")
    )
    assert plan.interval == "2024-01-05T00:00:00.000Z/2024-01-05T08:00:00.000Z"  # now - PT2H
    assert plan.watermark is not None
    assert plan.watermark.source == "late-rejection-period"


# --- cost and movement --------------------------------------------------------------------


async def test_a_backfill_of_many_jobs_costs_one_computation(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock)
    simulator.requests.clear()
    jobs = [
        job(f"d{n}", f"2023-11-{n + 1:02d}T00:00:00Z/2023-11-{n + 2:02d}T00:00:00Z")
        for n in range(29)
    ]
    answers = await asyncio.gather(*(gate.submit_delay(j) for j in jobs))
    plans = await asyncio.gather(*(gate.plan(j) for j in jobs))
    assert answers == [None] * len(jobs)
    assert all(p.watermark is not None and p.interval is None for p in plans)
    assert gate.computations == 1
    # Two spec reads: the directory's (which datasource it writes) and the gate's (ioConfig).
    assert calls(simulator) == {"supervisor_status": 1, "supervisor_spec": 2, "task_spec": 1}
    clock.now += 6.0  # past cache_s: computed again, but the spec and the task are known
    await gate.plan(jobs[0])
    assert gate.computations == 2
    assert calls(simulator) == {"supervisor_status": 2, "supervisor_spec": 2, "task_spec": 1}


async def test_a_held_job_is_woken_and_admitted_once_a_newer_watermark_passes(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock)
    held = job("j", "2024-01-05T00:00:00Z/2024-01-06T00:00:00Z")
    woken: list[str] = []
    assert await gate.submit_delay(held, lambda: woken.append("j")) is not None
    await roll_over(simulator, clock, 15 * HOUR)  # a new task: minimumMessageTime 01-06T00:30
    await gate.reading(DS, None, max_age_s=0.001)  # the next computation, by any job
    assert woken == ["j"]
    assert await gate.submit_delay(held) is None
    assert gate.held == {}
    plan = await gate.plan(held)
    assert plan.interval is None
    assert plan.watermark is not None
    assert plan.watermark.at == "2024-01-06T00:30:00.000Z"


async def test_the_check_before_a_post_refuses_an_interval_the_watermark_moved_back_over(
    overlord: HttpOverlord, simulator: Simulator, clock: Clock
) -> None:
    await streaming(overlord, simulator, lateMessageRejectionPeriod="PT1H")
    gate = gate_for(overlord, clock)
    state = job("j", "2024-01-04T00:00:00Z/2024-01-06T00:00:00Z")
    plan = await gate.plan(state)
    submitting = msgspec.structs.replace(state, phase="submitting", submit_interval=plan.interval)
    assert await gate.recheck(submitting) is None
    # A second stream into the same datasource still takes rows two days old.
    await overlord.create_supervisor(
        supervisor(supervisor_id="clicks-late", lateMessageRejectionPeriod="P2D")
    )
    await until(lambda: bool(live_tasks(simulator, "clicks-late")))
    clock.now += 6.0  # the directory's list and the gate's reading are both stale now
    assert await gate.recheck(submitting) == (
        "the streaming watermark moved back to 2024-01-03T10:30Z (aligned "
        "2024-01-03T00:00Z): interval 2024-01-04T00:00:00.000Z/2024-01-05T00:00:00.000Z "
        "is no longer wholly before it"
    )


# --- admission ----------------------------------------------------------------------------


class MovedBack(SubmissionGate):
    """A watermark that lets the job through, then moves back before its intent."""

    async def plan(self, state: JobState) -> AttemptPlan:
        return AttemptPlan(wait=3.0)


async def test_a_job_the_watermark_holds_after_its_slots_were_admitted_gives_them_back(
    overlord: HttpOverlord, clock: Clock
) -> None:
    slots = SlotBudget(overlord, clock)
    # No breaker changes state here, so the breakers never write to their (absent) log.
    admission = Admission(Breakers(cast(Any, None), clock), slots, MovedBack())
    spec = {"type": "index_parallel", "spec": {"tuningConfig": {"maxNumConcurrentSubTasks": 2}}}
    state = msgspec.structs.replace(job("j", "2020-01-01/2020-01-02"), spec=spec_raw(spec))
    assert await admission.submit_delay(state) is None
    assert slots.claims == {"j": 3}
    assert (await admission.plan(state)).wait == 3.0
    assert slots.claims == {}
