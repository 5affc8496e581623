"""Capacity: how many sub-tasks each parallel job may ask for, given the free worker slots.

An `index_parallel` task with `maxNumConcurrentSubTasks = m` occupies:

* one slot when `m == 1`: sequential mode, the supervisor task does the work itself;
* `1 + m` slots when `m >= 2`: its own slot plus up to `m` sub-tasks.

Druid starts sub-tasks up to `m` whatever the free slots, and a supervisor task holds its slot
while it waits for its sub-tasks' slots. If K jobs together ask for more than is free, their
supervisors can fill the cluster and wait on each other for hours. So the allocation keeps the
sum of every job's slots within the free slots, counting each supervisor's own slot.

When the slots are short, the rule is: refuse rather than overcommit. `allocate_sub_tasks`
raises `CapacityError` when the free slots cannot start every job at its minimum (1, or 2 for
range partitioning, which has no sequential mode). The error's `fits` says how many jobs can
start now; submit that many and allocate again for the rest when slots free up.

Pure functions over plain data: `/workers` rows as decoded JSON dicts, or any msgspec Struct
that encodes to the same shape (such as the Overlord client's `WorkerInfo`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from specs.errors import CapacityError, SpecError

__all__ = [
    "allocate_sub_tasks",
    "choose_sub_tasks",
    "free_slots",
    "jobs_that_fit",
    "slots_needed",
]


class _Worker(msgspec.Struct, frozen=True, rename="camel"):
    host: str = ""
    capacity: int = 0
    category: str = "_default_worker_category"
    disabled: bool = False


class _WorkerRow(msgspec.Struct, frozen=True, rename="camel"):
    """A row of `GET /druid/indexer/v1/workers`; unknown keys (newer Druid) are ignored."""

    worker: _Worker
    curr_capacity_used: int = 0
    blacklisted_until: str | None = None


def free_slots(
    workers: Iterable[Mapping[str, Any] | msgspec.Struct],
    *,
    category: str | None = None,
    now: datetime | None = None,
) -> int:
    """Free task slots: capacity minus used, summed over the workers that take tasks.

    Args:
        workers: rows of `/workers`.
        category: count only workers of this category (tasks are routed by category).
        now: when given, a worker blacklisted until before `now` counts again; without it,
            any `blacklistedUntil` excludes the worker.

    Raises:
        SpecError: a row does not have the shape of a `/workers` row.
    """
    total = 0
    for index, item in enumerate(workers):
        raw = msgspec.to_builtins(item) if isinstance(item, msgspec.Struct) else item
        try:
            row = msgspec.convert(raw, _WorkerRow)
        except msgspec.ValidationError as exc:
            raise SpecError(
                f"not a /workers row: {exc}", path=f"$[{index}]", rule="workers"
            ) from exc
        if row.worker.disabled or _blacklisted(row.blacklisted_until, now):
            continue
        if category is not None and row.worker.category != category:
            continue
        total += max(0, row.worker.capacity - row.curr_capacity_used)
    return total


def _blacklisted(until: str | None, now: datetime | None) -> bool:
    if until is None:
        return False
    if now is None:
        return True
    try:
        return datetime.fromisoformat(until.replace("Z", "+00:00")) > now
    except ValueError:
        return True  # unreadable: assume the worker is still blacklisted


def slots_needed(sub_tasks: int) -> int:
    """Slots one job occupies at `maxNumConcurrentSubTasks = sub_tasks`."""
    return 1 if sub_tasks <= 1 else 1 + sub_tasks


def jobs_that_fit(free: int, *, minimum: int = 1) -> int:
    """How many jobs can start now, each at `minimum` sub-tasks."""
    return max(0, free) // slots_needed(minimum)


def allocate_sub_tasks(free: int, jobs: int, *, want: int, minimum: int = 1) -> list[int]:
    """`maxNumConcurrentSubTasks` for each of `jobs` jobs about to be submitted together.

    Every job gets at least `minimum` and at most `want`; together they never occupy more
    than `free` slots (see `slots_needed`). Spare slots are handed out round-robin, one
    sub-task per job per round, earlier jobs first, until no job can grow within what is left.

    Args:
        free: free slots (see `free_slots`).
        jobs: how many jobs will be submitted.
        want: the most sub-tasks a job may use (the template's `max_sub_tasks`).
        minimum: the fewest a job can run with: 1, or 2 for single_dim/range partitioning.

    Raises:
        CapacityError: `free` cannot start every job at `minimum` (`.fits` says how many can).
        SpecError: `want` is below `minimum`, or a count is negative.
    """
    if jobs < 0 or minimum < 1:
        raise SpecError(f"jobs ({jobs}) and minimum ({minimum}) must be positive", rule="capacity")
    if want < minimum:
        raise SpecError(
            f"max_sub_tasks is {want} but this partitioning needs at least {minimum} sub-tasks",
            path="$.pipeline.max_sub_tasks",
            rule="range-not-sequential",
        )
    floor_cost = jobs * slots_needed(minimum)
    if floor_cost > free:
        fits = jobs_that_fit(free, minimum=minimum)
        raise CapacityError(
            f"{free} free slot(s) cannot start {jobs} job(s): each needs at least "
            f"{slots_needed(minimum)} (its own slot{' and its sub-tasks' if minimum > 1 else ''})"
            f", {floor_cost} in all; submit {fits} now and the rest as slots free up",
            fits=fits,
        )
    allowance = [minimum] * jobs
    spare = free - floor_cost
    grew = True
    while grew:
        grew = False
        for index, current in enumerate(allowance):
            if current >= want:
                continue
            step = slots_needed(current + 1) - slots_needed(current)
            if step <= spare:
                allowance[index] = current + 1
                spare -= step
                grew = True
    return allowance


def choose_sub_tasks(
    free: int,
    waiting: int,
    *,
    ceiling: int,
    floor: int = 1,
    lone: bool = False,
    capacity: int | None = None,
    running: int = 0,
) -> int | None:
    """`maxNumConcurrentSubTasks` for one job being admitted now, or None when it must wait.

    The free slots are shared with the jobs waiting behind it, as `allocate_sub_tasks`
    shares them among jobs submitted together (this job first, so it gets the first of any
    spare): a backfill's jobs run side by side at a small m, which wastes the fewest slots on
    supervisor tasks, and the last jobs of a backfill, or a lone one, grow into the slots
    left idle. The waiting jobs are assumed to have this job's bounds.

    Args:
        free: slots not claimed by this orchestrator's parallel jobs.
        waiting: parallel jobs waiting for slots besides this one.
        ceiling: the most sub-tasks the job may use; floor: the fewest it runs with.
        lone: no parallel job holds slots: the job goes even if its floor does not fit (a
            job bigger than the cluster still runs), with every free slot it can use.
        capacity, running: the cluster's slots and the parallel jobs holding some. When
            given, a job whose fair share of the whole cluster (shared with those running
            and waiting) is more than twice what is free now waits for its share: the
            slots come back as the running jobs end, and a job started at a fraction of
            its share (a sequential one, often) ends long after the rest.
    """
    floor = max(1, floor)
    ceiling = max(floor, ceiling)
    if free < slots_needed(floor):
        return floor if lone else None
    jobs = min(1 + max(0, waiting), jobs_that_fit(free, minimum=floor))
    now = allocate_sub_tasks(free, jobs, want=ceiling, minimum=floor)[0]
    if lone or capacity is None:
        return now
    sharing = min(1 + max(0, waiting) + max(0, running), jobs_that_fit(capacity, minimum=floor))
    if sharing < 1:
        return now
    share = allocate_sub_tasks(capacity, sharing, want=ceiling, minimum=floor)[0]
    return None if 2 * now < share else now
