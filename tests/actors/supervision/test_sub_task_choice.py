"""Sub-task parallelism chosen at admission: the pure choice, and the slot budget making it."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actors.job.state import JobState
from actors.supervision.slots import SlotPolicy
from eventlog.events import SubTasksRecord
from specs.capacity import best_sub_tasks, choose_sub_tasks, slots_needed
from tests.actors.supervision.test_slot_budget import budget, spec


def job(job_id: str, phase: str = "accepted", ceiling: int = 4, **fields: Any) -> JobState:
    return JobState(job_id=job_id, phase=phase, spec=spec(ceiling), **fields)  # type: ignore[arg-type]


# --- the pure choice ------------------------------------------------------------------------


def test_a_lone_job_grows_into_the_whole_cluster_up_to_its_ceiling() -> None:
    assert choose_sub_tasks(8, 0, ceiling=16, lone=True) == 7  # a slot for its supervisor
    assert choose_sub_tasks(8, 0, ceiling=2, lone=True) == 2
    assert choose_sub_tasks(32, 0, ceiling=16, splits=8) == 8  # no more than its splits


def test_two_jobs_share_eight_slots_at_three_sub_tasks_each() -> None:
    # Compiled at 4, they would run one at a time (5 + 5 > 8).
    assert choose_sub_tasks(8, 1, ceiling=4) == 3
    assert 2 * slots_needed(3) <= 8


def test_a_long_queue_runs_sequentially_side_by_side() -> None:
    assert choose_sub_tasks(8, 59, ceiling=4) == 1
    assert choose_sub_tasks(32, 59, ceiling=8, splits=8) == 1


def test_a_cluster_wider_than_the_queue_runs_it_in_short_waves_at_large_m() -> None:
    # 60 jobs of 8 splits on 128 slots: 14 at a time at m = 8, one round each, beat 60
    # sequential jobs side by side reading 8 splits each.
    assert choose_sub_tasks(128, 59, ceiling=8, splits=8) == 8
    assert best_sub_tasks(128, 60, splits=8, ceiling=8) == 8
    # The end of a backfill on 32 slots: few jobs left, so large m again.
    assert best_sub_tasks(32, 60, splits=8, ceiling=8) == 1
    assert best_sub_tasks(32, 10, splits=8, ceiling=8) == 8


def test_the_jobs_running_count_as_sharing_the_cluster() -> None:
    assert choose_sub_tasks(32, 0, ceiling=8, splits=8, capacity=32) == 8
    assert choose_sub_tasks(32, 0, ceiling=8, splits=8, capacity=64, running=59) == 1


def test_a_job_far_below_its_aim_waits_and_one_near_it_goes() -> None:
    # 14 jobs at m = 8 hold 126 of 128 slots: the 15th would run sequentially, 8x longer.
    assert choose_sub_tasks(2, 45, ceiling=8, splits=8, capacity=128, running=14) is None
    # With 6 free it goes at m = 5 now: two rounds at most against one after a wait.
    assert choose_sub_tasks(6, 45, ceiling=8, splits=8, capacity=128, running=13) == 5
    assert choose_sub_tasks(2, 0, ceiling=8, capacity=128, running=14, lone=True) == 1


def test_range_partitioning_never_goes_below_two_and_waits_rather_than_overcommit() -> None:
    assert choose_sub_tasks(8, 59, ceiling=4, floor=2) == 3  # two jobs of 4 slots
    assert choose_sub_tasks(2, 0, ceiling=4, floor=2) is None
    assert choose_sub_tasks(2, 0, ceiling=4, floor=2, lone=True) == 2  # one may always go


def test_nothing_free_means_wait_unless_nothing_is_held() -> None:
    assert choose_sub_tasks(0, 3, ceiling=4) is None
    assert choose_sub_tasks(0, 3, ceiling=4, lone=True) == 1


@pytest.mark.parametrize("free", range(0, 40))
@pytest.mark.parametrize("waiting", [0, 1, 3, 10])
def test_a_choice_fits_the_free_slots_and_the_bounds(free: int, waiting: int) -> None:
    m = choose_sub_tasks(free, waiting, ceiling=6, floor=2)
    if m is not None:
        assert 2 <= m <= 6
        assert slots_needed(m) <= free


# --- the budget making it -------------------------------------------------------------------


async def test_admission_chooses_m_from_the_free_slots_and_the_jobs_waiting() -> None:
    slots, _, _ = budget(16)
    for name in ("a", "b", "c"):
        slots.observe(job(name))  # accepted: queued for slots
    slots.observe(job("r", phase="running", sub_tasks=_record(8)))  # holds 9 of 16
    assert await slots.admit(job("a")) is None
    chosen = slots.choice("a")
    # 4 jobs of 4 splits on 16 slots: at m = 4, three at a time, in one round each.
    assert chosen == SubTasksRecord(m=4, capacity=16, free=7, waiting=2, ceiling=4, floor=1)
    assert slots.claims["a"] == 5


async def test_the_claim_follows_the_recorded_m_not_the_compiled_one() -> None:
    slots, _, _ = budget(16)
    slots.observe(job("a", phase="submitting", sub_tasks=_record(2)))
    assert slots.claims == {"a": 3}  # compiled at 4 it would claim 5
    slots.observe(job("a", phase="running", sub_tasks=_record(2)))
    assert slots.claimed == 3


async def test_a_retry_chooses_again() -> None:
    slots, overlord, clock = budget(8, capacity_ttl_s=1.0)
    assert await slots.admit(job("a")) is None
    first = slots.choice("a")
    assert first is not None
    assert first.m == 4
    slots.observe(job("a", phase="submitting", sub_tasks=first))
    slots.observe(job("a", phase="retry_wait", sub_tasks=first))
    assert slots.claims == {}
    assert slots.choice("a") is None
    overlord.capacity, clock.now = 3, clock.now + 2
    slots.observe(job("b", phase="running", sub_tasks=_record(1)))
    assert await slots.admit(job("a", phase="retry_wait", sub_tasks=first)) is None
    again = slots.choice("a")
    assert again is not None
    assert (again.m, again.capacity, again.free) == (1, 3, 2)


async def test_a_job_the_watermark_sends_back_forgets_its_choice() -> None:
    slots, _, _ = budget(8)
    assert await slots.admit(job("a")) is None
    slots.observe(job("a"))  # as `Admission.plan` does when the watermark moved back
    assert slots.claims == {}
    assert slots.choice("a") is None


async def test_with_adaptive_off_a_job_runs_at_its_compiled_m_and_records_nothing() -> None:
    slots, _, _ = budget(16, adaptive=False)
    assert await slots.admit(job("a")) is None
    assert slots.choice("a") is None
    assert slots.claims == {"a": 5}


async def test_a_waiting_job_says_the_least_it_needs() -> None:
    slots, _, _ = budget(6)
    slots.observe(job("r", phase="running", sub_tasks=_record(5)))
    assert await slots.admit(job("a", ceiling=4)) == SlotPolicy().recheck_s
    assert slots.held["a"].endswith("hold 6 of 6; it needs at least 1")


def test_sequential_specs_have_no_choice_to_make() -> None:
    slots, _, _ = budget(6)
    slots.observe(job("s", phase="running", ceiling=1))
    assert slots.claims == {}
    assert slots.bounds(job("s", ceiling=1)) is None
    assert slots.bounds(JobState(job_id="x", spec=msgspec.Raw(b"{"))) is None


def _record(m: int) -> SubTasksRecord:
    return SubTasksRecord(m=m, capacity=16, free=16, ceiling=8)


async def test_sequential_attempts_queue_in_druid_while_no_claim_runs_sub_tasks() -> None:
    slots, _, _ = budget(4)
    for name in "abcdefghij":
        slots.observe(job(name, ceiling=8))
    for name in "abcdefgh":  # 4 run, 4 wait in Druid's queue: each starts as a slot frees
        assert await slots.admit(job(name, ceiling=8)) is None
        assert slots.choice(name) is not None
        assert slots.choice(name).m == 1  # type: ignore[union-attr]
    assert slots.claimed == 8
    assert await slots.admit(job("i", ceiling=8)) is not None  # twice the capacity at most


async def test_without_queue_sequential_the_claims_never_pass_the_capacity() -> None:
    slots, _, _ = budget(4, queue_sequential=False)
    for name in "abcdefghij":
        slots.observe(job(name, ceiling=8))
    for name in "abcd":
        assert await slots.admit(job(name, ceiling=8)) is None
    assert await slots.admit(job("e", ceiling=8)) is not None
    assert slots.claimed == 4


async def test_a_job_far_below_its_aim_waits_for_it_and_says_what_it_needs() -> None:
    slots, _, _ = budget(128)
    for n in range(14):  # 14 jobs at m = 8 hold 126 of 128
        slots.observe(job(f"r{n}", phase="running", ceiling=8, sub_tasks=_record(8)))
    assert await slots.admit(job("a", ceiling=8)) == SlotPolicy().recheck_s
    assert slots.held["a"].endswith("hold 126 of 128; it needs 9")  # m = 8, not 1 now
    slots.observe(job("r0", phase="succeeded", ceiling=8, sub_tasks=_record(8)))
    assert await slots.admit(job("a", ceiling=8)) is None
    assert slots.claims["a"] == 9


async def test_a_job_about_to_take_most_of_the_cluster_first_waits_for_its_companions() -> None:
    slots, _, clock = budget(8, settle_s=0.25, capacity_ttl_s=60.0)
    woken: list[str] = []
    slots.observe(job("a", ceiling=8))
    assert await slots.admit(job("a", ceiling=8), lambda: woken.append("a")) == 0.25
    assert slots.held["a"] == (  # alone, it would take m = 7: all 8 slots
        "waiting 0.25 s for jobs submitted with it before taking 8 of 8 worker slots"
    )
    slots.observe(job("b", ceiling=8))
    assert woken == ["a"]  # it chooses again with the newcomer counted: m = 3, still half
    clock.now += 0.1
    assert await slots.admit(job("a", ceiling=8), lambda: woken.append("a")) == pytest.approx(0.15)
    for name in "cdefgh":  # the rest of the backfill arrives
        slots.observe(job(name, ceiling=8))
    assert woken == ["a", "a"]
    assert await slots.admit(job("a", ceiling=8)) is None  # 8 jobs on 8 slots: m = 1
    assert slots.choice("a") is not None
    assert slots.choice("a").m == 1  # type: ignore[union-attr]
    assert "a" not in slots.held


async def test_a_job_taking_less_than_half_the_cluster_does_not_wait() -> None:
    slots, _, _ = budget(32, settle_s=0.25)
    assert await slots.admit(job("a", ceiling=8)) is None  # m = 8: 9 of 32
    assert slots.claims["a"] == 9
