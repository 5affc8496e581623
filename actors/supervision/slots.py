"""The slot budget: admission of this orchestrator's parallel jobs, so they cannot deadlock.

An `index_parallel` task with `maxNumConcurrentSubTasks = m >= 2` holds its own worker slot
while it waits for slots for its sub-tasks (`specs.capacity.slots_needed`). Submitted all at
once, a backfill of such jobs can fill every slot with supervisor tasks whose sub-tasks then
wait forever. So before a parallel job's submission goes out, the budget checks that the
claims of this orchestrator's parallel jobs that hold (or may hold) slots, plus the job's own,
fit in the cluster's capacity; if not, the job waits and asks again.

* A parallel job's sub-task parallelism m is chosen when it is admitted (`adaptive`): the
  m that would end soonest the parallel jobs sharing the cluster (it, those waiting behind
  it and those holding claims), within the free slots (capacity minus the claims held;
  `specs.capacity.choose_sub_tasks`) and the bounds its spec gives (`actors.job.sub_tasks`:
  its compiled m, or its listed input splits when fewer, as the ceiling; 1, or 2 for range
  partitioning, as the floor). The choice goes into the attempt's intent
  (`AttemptPlan.sub_tasks`, then `SubmitIntended.sub_tasks`), and every POST of the attempt
  sends the recorded m; a retry chooses again. Without `adaptive`, every job runs at its
  compiled m.
* A job's claim is `slots_needed(m)`: the recorded m of its current attempt, or the one just
  chosen for it, or its compiled one. Jobs whose spec cannot run sub-tasks (sequential
  tasks) are never gated: they cannot deadlock.
* A claim is held from the admission (just before the submit intent is recorded) until the
  job leaves the phases in which its task may hold slots (`HOLDING`): it ends, dies, is
  cancelled, its task is lost, or it waits between attempts.
* When no parallel job holds a claim, one may always go: a job bigger than the cluster still
  runs, with fewer sub-tasks at a time.
* A job about to take half the cluster or more waits `settle_s` after it first asked: a
  backfill arrives job by job, and its first job, alone in the queue, would take most of
  the cluster and make the rest wait its whole run.
* With `queue_sequential` (the default), attempts chosen at m = 1 may claim up to twice the
  capacity while no claim runs sub-tasks: the second half waits in Druid's queue, and each
  starts the moment a slot frees rather than a status poll and a POST later. They cannot
  deadlock (each holds one slot and ends); a parallel job is admitted only once the claims,
  queued ones included, leave room for all of it.
* Capacity is `GET /totalWorkerCapacity`, fetched at most every `capacity_ttl_s` through the
  breaker-guarded client. A failed fetch keeps the last known value; with none known, jobs
  go as they did before the gate, at their compiled m.

Claims are in memory: boot rebuilds them from the replayed job states (`observe`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

import msgspec
import structlog

from actors.job.state import JobState
from actors.job.sub_tasks import SubTaskBounds, sub_task_bounds
from actors.ports import Clock, Overlord
from eventlog.events import SubTasksRecord
from overlord.errors import OverlordError
from specs.capacity import best_sub_tasks, choose_sub_tasks, slots_needed

logger = structlog.get_logger("druid_orch.slots")

# Phases in which a job's Druid task may hold worker slots: from the submit intent (it may
# have reached the Overlord) until the task is seen to end and the job has moved on. `failed`
# is included: the failure is being analysed and the next step may be a retry, but a failed
# supervisor's sub-tasks may still be shutting down.
HOLDING: frozenset[str] = frozenset(
    {"submitting", "submitted", "waiting", "pending", "running", "cancelling", "failed"}
)
# Phases in which a job's next step is an admission: it waits for slots, or soon will.
QUEUED: frozenset[str] = frozenset({"accepted", "retry_wait"})


class SlotPolicy(msgspec.Struct, frozen=True, kw_only=True):
    # Off: parallel jobs are submitted all at once, as sequential ones always are.
    enabled: bool = True
    # Choose each parallel job's maxNumConcurrentSubTasks at admission from the capacity,
    # the free slots and the jobs sharing them; off: every job runs at its compiled value.
    adaptive: bool = True
    # With `adaptive`: attempts chosen at m = 1 may also claim up to the capacity again
    # beyond it while no claim runs sub-tasks, queued in Druid rather than here (see
    # `SlotBudget._overflow`); off: the claims never pass the capacity, and each sequential
    # attempt waits here for a slot to be seen free (8 slots, bench: 1.15x the time).
    queue_sequential: bool = True
    # With `adaptive`: a job about to take half the cluster or more at m >= 2 first waits
    # this long after it first asked, for the jobs submitted with it to arrive (a backfill
    # arrives job by job): chosen on a queue of one, it would make them all wait its run.
    settle_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.25
    # How long a fetched cluster capacity is trusted; 0 would ask the Overlord before every
    # gated submission.
    capacity_ttl_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    # When a waiting job asks again if no claim is released first.
    recheck_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 2.0


def claim_of(spec: msgspec.Raw) -> int:
    """Slots a job's task may hold at once at its compiled m: `slots_needed(m)` for an
    `index_parallel` task or a `compact` task (which runs one), 1 for anything else (or a
    spec that cannot be read so)."""
    bounds = sub_task_bounds(spec)
    return 1 if bounds is None else slots_needed(bounds.ceiling)


class SlotBudget:
    """The claims of this orchestrator's parallel jobs, and the admission check against them."""

    def __init__(self, overlord: Overlord, clock: Clock, policy: SlotPolicy = SlotPolicy()) -> None:
        self.overlord = overlord
        self.clock = clock
        self.policy = policy
        self.claims: dict[str, int] = {}  # job -> slots, for jobs that hold or may hold them
        self.claimed = 0  # their sum, kept as they change (boot observes every live job)
        self.capacity: int | None = None  # last known; None: never known
        self.held: dict[str, str] = {}  # job -> why it waits
        self.peak = 0  # the most slots claimed at once (tests, metrics)
        self.queued: set[str] = set()  # parallel jobs not yet admitted (`QUEUED` phases)
        self.chosen: dict[str, SubTasksRecord] = {}  # admitted, its intent not yet recorded
        self.parallel = 0  # claims of more than one slot: tasks that run sub-tasks
        self._bounds: dict[str, SubTaskBounds | None] = {}  # job -> read once from its spec
        self._waiters: dict[str, tuple[int, Callable[[], None]]] = {}  # in order of arrival
        self._asked: dict[str, float] = {}  # job -> when it first asked to be admitted
        self._settling: dict[str, Callable[[], None]] = {}  # jobs waiting out `settle_s`
        self._fetched_at: float | None = None
        self._fetch = asyncio.Lock()

    def bounds(self, state: JobState) -> SubTaskBounds | None:
        """The job's sub-task bounds, or None when it runs no sub-tasks (never gated)."""
        job_id = state.job_id
        if job_id not in self._bounds:
            bounds = sub_task_bounds(state.spec)
            self._bounds[job_id] = bounds if bounds is not None and bounds.ceiling > 1 else None
        return self._bounds[job_id]

    def claim(self, state: JobState) -> int:
        """Slots the job's task may hold: at the m its current attempt recorded, else the one
        just chosen for it, else its compiled one."""
        bounds = self.bounds(state)
        if bounds is None:
            return 1
        if state.sub_tasks is not None and state.phase in HOLDING:
            return slots_needed(state.sub_tasks.m)
        chosen = self.chosen.get(state.job_id)
        return slots_needed(chosen.m if chosen is not None else bounds.ceiling)

    def choice(self, job_id: str) -> SubTasksRecord | None:
        """The m chosen for the job at its admission, to record with its intent."""
        return self.chosen.get(job_id)

    def observe(self, state: JobState) -> None:
        """Follow a job's phase: keep its claim while it may hold slots, release it after."""
        job_id = state.job_id
        if state.terminal:
            self._bounds.pop(job_id, None)
            self._waiters.pop(job_id, None)
            self._asked.pop(job_id, None)
            self._settling.pop(job_id, None)
            self.held.pop(job_id, None)
        gated = self.policy.enabled and self.bounds(state) is not None
        if gated and state.phase in QUEUED:
            if job_id not in self.queued:
                self._arrived(job_id)
            self.queued.add(job_id)
        else:
            self.queued.discard(job_id)
        if gated and state.phase in HOLDING:
            self._hold(job_id, self.claim(state))
            self.chosen.pop(job_id, None)  # recorded now: the state says m from here on
            return
        self.chosen.pop(job_id, None)
        released = self.claims.pop(job_id, None)
        if released is not None:
            self.claimed -= released
            self.parallel -= released > 1
            self._wake()

    async def admit(self, state: JobState, wake: Callable[[], None] | None = None) -> float | None:
        """None when the job's submission may go out now (its claim is then held, and its m
        chosen: `choice`), or the seconds after which to ask again (`wake` is called earlier
        if a claim is released)."""
        if not self.policy.enabled:
            return None
        job_id = state.job_id
        bounds = self.bounds(state)
        if bounds is None or job_id in self.claims:
            return None
        capacity = await self._capacity()
        held = self.claimed  # after the await: other jobs may have been admitted meanwhile
        if capacity is None:
            self._admitted(job_id, slots_needed(bounds.ceiling))
            return None
        if self.policy.adaptive:
            free = max(0, capacity - held)
            waiting = len(self.queued) - (job_id in self.queued)
            aim = best_sub_tasks(
                capacity,
                1 + waiting + len(self.claims),
                splits=bounds.splits or bounds.most,
                ceiling=bounds.most,
                floor=bounds.floor,
            )
            m = choose_sub_tasks(
                free,
                waiting,
                ceiling=bounds.most,
                floor=bounds.floor,
                lone=held == 0,
                capacity=capacity,
                running=len(self.claims),
                splits=bounds.splits,
            )
            if m is None and aim == 1 and held < capacity + self._overflow(capacity):
                # Nothing free: a job that aims at sequential mode may queue in Druid behind
                # the sequential tasks running now (never one aiming at sub-tasks: it would
                # run far below its aim).
                m = 1
            settle = self._settle(job_id, capacity, m)
            if settle is not None:
                if wake is not None:
                    self._settling[job_id] = wake
                return settle
            if m is not None:
                self.chosen[job_id] = SubTasksRecord(
                    m=m,
                    capacity=capacity,
                    free=free,
                    waiting=waiting,
                    ceiling=bounds.most,
                    floor=bounds.floor,
                )
                self._admitted(job_id, slots_needed(m))
                return None
            if free >= slots_needed(bounds.floor):  # it would run far below its aim
                size, least = slots_needed(aim), ""
            else:
                size, least = slots_needed(bounds.floor), "at least "
        else:
            size, least = slots_needed(bounds.ceiling), ""
            if held == 0 or held + size <= capacity:
                self._admitted(job_id, size)
                return None
        reason = (
            f"waiting for worker slots: this orchestrator's parallel jobs hold {held} of "
            f"{capacity}; it needs {least}{size}"
        )
        if job_id not in self.held:
            logger.info(
                "job_waits_for_slots", job_id=job_id, held=held, capacity=capacity, needs=size
            )
        self.held[job_id] = reason
        if wake is not None:
            self._waiters[job_id] = (size, wake)
        return self.policy.recheck_s

    def _settle(self, job_id: str, capacity: int, m: int | None) -> float | None:
        """The seconds a job chosen at `m` waits before taking it (`SlotPolicy.settle_s`),
        or None: a parallel job about to take half the cluster or more waits that long after
        it first asked, so that the jobs submitted with it count in its choice."""
        now = self.clock()
        asked = self._asked.setdefault(job_id, now)
        if m is None or m < 2 or 2 * slots_needed(m) < capacity:
            return None
        left = asked + self.policy.settle_s - now
        if left <= 0:
            return None
        self.held[job_id] = (
            f"waiting {left:.2f} s for jobs submitted with it before taking "
            f"{slots_needed(m)} of {capacity} worker slots"
        )
        return left

    def _arrived(self, job_id: str) -> None:
        """A job joined the queue: the settling ones choose again with it counted."""
        settling, self._settling = self._settling, {}
        for other, wake in settling.items():
            if other != job_id:
                wake()

    def _admitted(self, job_id: str, size: int) -> None:
        self._hold(job_id, size)
        self.held.pop(job_id, None)
        self._waiters.pop(job_id, None)
        self._asked.pop(job_id, None)
        self._settling.pop(job_id, None)

    def _hold(self, job_id: str, size: int) -> None:
        before = self.claims.get(job_id, 0)
        self.claimed += size - before
        self.parallel += (size > 1) - (before > 1)
        self.claims[job_id] = size
        self.peak = max(self.peak, self.claimed)

    def _overflow(self, capacity: int) -> int:
        """Slots beyond the capacity that sequential attempts may claim now: as many again,
        while no claim runs sub-tasks. Sequential tasks cannot deadlock (Druid queues them
        and each ends), and one waiting in Druid's queue behind each slot starts the moment
        the slot frees, not a status poll and a POST later. A parallel job is only admitted
        once the claims, queued ones included, leave room for all of its own."""
        if not (self.policy.adaptive and self.policy.queue_sequential) or self.parallel:
            return 0
        # Not while a job that cannot run sequentially waits: it would never find room.
        return 0 if any(size > 1 for size, _ in self._waiters.values()) else capacity

    def _wake(self) -> None:
        """Wake the waiting jobs, first come first, that the freed slots may admit."""
        if not self._waiters:
            return
        capacity = self.capacity or 0
        room = capacity + self._overflow(capacity) - self.claimed
        lone = not self.claims  # with no claim held, the first may go whatever its size
        for job_id, (size, wake) in list(self._waiters.items()):
            if size > room and not lone:
                break
            lone = False
            del self._waiters[job_id]
            room -= size
            wake()

    async def _capacity(self) -> int | None:
        if self._fresh():
            return self.capacity
        async with self._fetch:
            if self._fresh():  # another job fetched it while this one waited
                return self.capacity
            try:
                total = await self.overlord.total_capacity()
            except OverlordError as exc:  # the breaker's refusal included: keep what we know
                logger.warning("capacity_unknown", error=str(exc)[:200], last_known=self.capacity)
            else:
                if total.current_cluster_capacity > 0:
                    self.capacity = total.current_cluster_capacity
            # Only once the answer is in: a job arriving meanwhile waits for it (on the lock)
            # rather than taking the stale value as fresh.
            self._fetched_at = self.clock()
            return self.capacity

    def _fresh(self) -> bool:
        at = self._fetched_at
        return at is not None and self.clock() - at < self.policy.capacity_ttl_s
