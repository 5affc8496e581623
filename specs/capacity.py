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
from fractions import Fraction
from typing import Any

import msgspec

from specs.errors import CapacityError, SpecError

__all__ = [
    "allocate_sub_tasks",
    "best_sub_tasks",
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
    splits: int | None = None,
) -> int | None:
    """`maxNumConcurrentSubTasks` for one job being admitted now, or None when it must wait.

    The m aimed at is the one that would finish soonest the jobs sharing the cluster (this
    one, those waiting behind it and those running), were they all to run at it
    (`best_sub_tasks`): a long backfill on a small cluster runs sequentially side by side,
    which wastes no slot on supervisor tasks; on a cluster wider than the queue, or at the
    end of a backfill, jobs run at large m in short waves. When the aim does not fit in the
    free slots, the job goes now with the most that fit if that takes at most twice as long
    as the aim (the running jobs' slots come back in about the aim's time), else it waits.
    The jobs waiting and running are assumed to have this job's bounds.

    Args:
        free: slots not claimed by this orchestrator's parallel jobs.
        waiting: parallel jobs waiting for slots besides this one.
        ceiling: the most sub-tasks the job may use; floor: the fewest it runs with.
        lone: no parallel job holds slots: the job goes even if its floor does not fit (a
            job bigger than the cluster still runs).
        capacity: the cluster's slots (default: `free`); running: the jobs holding some.
        splits: the job's input splits when known (its work: one sub-task each); else the
            ceiling stands for them.
    """
    floor = max(1, floor)
    ceiling = max(floor, ceiling)
    if free < slots_needed(floor):
        return floor if lone else None
    cluster = max(free, capacity if capacity is not None else free)
    jobs = 1 + max(0, waiting) + max(0, running)
    work = max(1, splits if splits is not None else ceiling)
    aim = best_sub_tasks(cluster, jobs, splits=work, ceiling=ceiling, floor=floor)
    if slots_needed(aim) <= free:
        return aim
    fits = max(m for m in range(floor, aim) if slots_needed(m) <= free)
    if lone or _rounds(work, fits) <= 2 * _rounds(work, aim):
        return fits
    return None


def best_sub_tasks(capacity: int, jobs: int, *, splits: int, ceiling: int, floor: int = 1) -> int:
    """The m at which `jobs` jobs of `splits` splits each finish soonest on `capacity` slots.

    The model: at m, `capacity // slots_needed(m)` jobs run at once (at least one), so the
    jobs take `jobs / at_once` job lengths (at least one; not a whole number of waves: a
    job starts as soon as another's slots free). A job reads its splits in `splits / m`
    rounds of sub-tasks, a sequential one (m = 1) in `splits` (it reads every split itself);
    a last round that is not full is counted half way between its share and a whole (the
    next job's sub-tasks start as its slots free). Ties go to the larger m: it uses slots
    that would otherwise idle. m never exceeds the splits, nor leaves no slot for the
    supervisor task (unless the floor does).

    Supervisor tasks cost no time of their own here; what they cost is the slot each holds,
    which is why a long queue on a small cluster runs best sequentially (no supervisor), and
    a short one on a wide cluster best at large m (short jobs, in waves).
    """
    floor = max(1, floor)
    most = max(floor, min(ceiling, splits, max(1, capacity - 1)))
    best, least = floor, None
    for m in range(floor, most + 1):
        waves = max(Fraction(max(1, jobs), max(1, capacity // slots_needed(m))), Fraction(1))
        cost = waves * _rounds(splits, m)
        if least is None or cost <= least:
            best, least = m, cost
    return best


def _rounds(splits: int, m: int) -> Fraction:
    """A job's length at m, in sub-task durations (see `best_sub_tasks`)."""
    full = -(-splits // m)
    return (Fraction(splits, m) + full) / 2 if m > 1 else Fraction(splits)
