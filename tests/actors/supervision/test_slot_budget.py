"""The slot budget: claims from specs, admission against capacity, release, capacity caching."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from actors.job.state import JobState
from actors.supervision.slots import SlotBudget, SlotPolicy, claim_of
from overlord.errors import OverlordUnavailableError
from overlord.models import TotalWorkerCapacity


def spec(sub_tasks: int | None, task_type: str = "index_parallel") -> msgspec.Raw:
    tuning: dict[str, Any] = {"type": task_type}
    if sub_tasks is not None:
        tuning["maxNumConcurrentSubTasks"] = sub_tasks
    return msgspec.Raw(msgspec.json.encode({"type": task_type, "spec": {"tuningConfig": tuning}}))


def job(job_id: str, phase: str = "accepted", sub_tasks: int | None = 2) -> JobState:
    return JobState(job_id=job_id, phase=phase, spec=spec(sub_tasks))  # type: ignore[arg-type]


class FakeOverlord:
    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.calls = 0

    async def total_capacity(self) -> TotalWorkerCapacity:
        self.calls += 1
        await asyncio.sleep(0.01)  # an answer takes time: other jobs arrive meanwhile
        if self.capacity is None:
            raise OverlordUnavailableError("total_capacity: connection refused")
        return TotalWorkerCapacity(
            current_cluster_capacity=self.capacity,
            maximum_capacity_with_auto_scale=-1,
            used_cluster_capacity=0,
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(capacity: int | None, **policy: Any) -> tuple[SlotBudget, FakeOverlord, Clock]:
    overlord, clock = FakeOverlord(capacity), Clock()
    policy = {"settle_s": 0.0, **policy}  # the settling window has tests of its own
    return SlotBudget(overlord, clock, SlotPolicy(**policy)), overlord, clock  # type: ignore[arg-type]


def test_a_claim_is_the_slots_a_parallel_task_needs_and_one_for_anything_else() -> None:
    assert claim_of(spec(2)) == 3
    assert claim_of(spec(5)) == 6
    assert claim_of(spec(1)) == 1
    assert claim_of(spec(None)) == 1
    assert claim_of(spec(4, task_type="index")) == 1
    assert claim_of(msgspec.Raw(b"not json")) == 1


def test_a_compaction_claims_the_slots_of_the_parallel_rewrite_it_runs() -> None:
    def compact(tuning: dict[str, Any] | None) -> msgspec.Raw:
        task: dict[str, Any] = {"type": "compact", "dataSource": "clicks"}
        if tuning is not None:
            task["tuningConfig"] = tuning
        return msgspec.Raw(msgspec.json.encode(task))

    assert claim_of(compact({"type": "index_parallel", "maxNumConcurrentSubTasks": 3})) == 4
    assert claim_of(compact({"maxNumConcurrentSubTasks": 2})) == 3
    assert claim_of(compact(None)) == 1


async def test_parallel_jobs_are_admitted_while_their_claims_fit_and_the_rest_wait() -> None:
    slots, _, _ = budget(6, adaptive=False)
    assert await slots.admit(job("a")) is None
    assert await slots.admit(job("b")) is None
    assert await slots.admit(job("c")) == SlotPolicy().recheck_s
    assert slots.claims == {"a": 3, "b": 3}
    assert slots.held["c"] == (
        "waiting for worker slots: this orchestrator's parallel jobs hold 6 of 6; it needs 3"
    )
    # A job already holding its claim (its submit intent after the admission) goes on.
    assert await slots.admit(job("a", phase="submitting")) is None


async def test_a_released_claim_wakes_the_first_waiting_job_and_admits_it() -> None:
    slots, _, _ = budget(6, adaptive=False)
    woken: list[str] = []
    for name in "ab":
        await slots.admit(job(name))
        slots.observe(job(name, phase="running"))
    assert await slots.admit(job("c"), lambda: woken.append("c")) is not None
    assert await slots.admit(job("d"), lambda: woken.append("d")) is not None
    slots.observe(job("a", phase="succeeded"))
    assert woken == ["c"]
    assert await slots.admit(job("c")) is None
    assert "c" not in slots.held
    assert slots.peak == 6


@pytest.mark.parametrize("phase", ["succeeded", "dead", "cancelled", "retry_wait"])
def test_a_claim_is_released_when_the_job_ends_or_waits_between_attempts(phase: str) -> None:
    slots, _, _ = budget(6)
    slots.observe(job("a", phase="running"))
    assert slots.claims == {"a": 3}
    slots.observe(job("a", phase=phase))
    assert slots.claims == {}


@pytest.mark.parametrize(
    "phase", ["submitting", "submitted", "waiting", "pending", "running", "cancelling", "failed"]
)
def test_a_replayed_job_that_may_hold_slots_holds_its_claim(phase: str) -> None:
    slots, _, _ = budget(6)
    slots.observe(job("a", phase=phase))
    assert slots.claims == {"a": 3}


async def test_a_job_bigger_than_the_cluster_still_runs_when_nothing_else_holds_slots() -> None:
    slots, _, _ = budget(6)
    assert await slots.admit(job("huge", sub_tasks=10)) is None
    assert await slots.admit(job("next")) is not None


async def test_sequential_jobs_are_never_gated_nor_counted() -> None:
    slots, overlord, _ = budget(1)
    for n in range(10):
        assert await slots.admit(job(f"s{n}", sub_tasks=1)) is None
        slots.observe(job(f"s{n}", phase="running", sub_tasks=1))
    assert slots.claims == {}
    assert overlord.calls == 0


async def test_an_unknown_capacity_lets_parallel_jobs_go_as_before() -> None:
    slots, _, _ = budget(None)
    for n in range(5):
        assert await slots.admit(job(f"p{n}")) is None


async def test_capacity_is_cached_and_a_failed_fetch_keeps_the_last_known_value() -> None:
    slots, overlord, clock = budget(6, capacity_ttl_s=5.0)
    await slots.admit(job("a"))
    await slots.admit(job("b"))
    await slots.admit(job("c"))
    assert overlord.calls == 1
    clock.now += 6
    overlord.capacity = None  # the Overlord is down now
    assert await slots.admit(job("c")) is not None
    assert overlord.calls == 2
    assert slots.capacity == 6
    assert await slots.admit(job("c")) is not None
    assert overlord.calls == 2  # not asked again within the TTL


async def test_turned_off_the_budget_admits_everything_and_holds_no_claims() -> None:
    slots, overlord, _ = budget(3, enabled=False)
    for n in range(4):
        assert await slots.admit(job(f"p{n}")) is None
        slots.observe(job(f"p{n}", phase="running"))
    assert slots.claims == {}
    assert overlord.calls == 0


async def test_jobs_arriving_while_the_capacity_is_fetched_wait_for_the_answer() -> None:
    slots, overlord, _ = budget(6)
    results = await asyncio.gather(*(slots.admit(job(f"p{n}")) for n in range(4)))
    assert results.count(None) == 2
    assert overlord.calls == 1
    assert slots.claimed == 6


def test_the_claimed_total_follows_every_claim_and_release() -> None:
    slots, _, _ = budget(6)
    for phase in ("submitting", "submitted", "running", "running", "failed", "retry_wait"):
        slots.observe(job("a", phase=phase))
        slots.observe(job("b", phase="running", sub_tasks=4))
        assert slots.claimed == sum(slots.claims.values())
    assert slots.claims == {"b": 5}
