"""The simulated cluster behind the simulator's HTTP surface: task storage, locks, worker
slots, and the scheduler that moves tasks through their lifecycle.

Theory of operation. A submitted task is stored RUNNING/WAITING. After `lock_delay_s` it tries
to lock its intervals (`sim_locks`): if another group holds an overlapping lock it queues
behind it, otherwise it becomes RUNNING/PENDING and joins the FIFO of tasks waiting for a slot.
Whenever a slot is free the head of that FIFO starts on the least-loaded worker
(RUNNING/RUNNING), and a timer ends it after its duration with its drawn outcome, a report and a
log. Every step is driven by an event (submission, timer, release, shutdown): nothing scans all
tasks periodically, so 10,000 live tasks cost no more per event than ten.

With `sub_tasks` on, a parallel `index_parallel` task runs its splits as `single_phase_sub_task`
tasks of its group, at most `maxNumConcurrentSubTasks` at a time, each needing a slot of its
own, and finishes when they have (REFERENCE §3.1, §11) — which can starve a small cluster, as
in Druid. Supervisors add streaming tasks through `add_stream_task`.
"""

from __future__ import annotations

import asyncio
import random
import time
from bisect import insort
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from typing import Any

from overlord.sim.catalog import FAILURE_KINDS, SHUTDOWN_MESSAGE
from overlord.sim.locks import LockTable, Span
from overlord.sim.outcomes import TaskOutcomes
from overlord.sim.tasks import (
    EPOCH,
    ClusterConfig,
    SimTask,
    generated_id,
    intervals_of,
    iso,
    new_task,
    parse_instant,
    stream_task_id,
)

__all__ = [
    "EPOCH",
    "ClusterConfig",
    "SimCluster",
    "SimTask",
    "generated_id",
    "iso",
    "parse_instant",
]


class SimCluster:
    """Task storage plus the scheduler that moves tasks through their lifecycle."""

    def __init__(self, config: ClusterConfig, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.wall = wall
        self.outcomes = TaskOutcomes(self)
        # Observers; they survive reset().
        self.on_task_start: list[Callable[[SimTask], None]] = []
        self.on_task_end: list[Callable[[SimTask], None]] = []
        self.reset()

    def reset(self) -> None:
        """Forget everything (`POST /sim/reset`); the object stays, so sharers keep sharing."""
        if hasattr(self, "tasks"):
            self.cancel_timers()
        config = self.config
        self.tasks: dict[str, SimTask] = {}
        self.active: dict[str, SimTask] = {}  # insertion (= creation) order
        self.completed: list[SimTask] = []  # sorted by creation time
        self.status_counts: Counter[str] = Counter()
        self.runner_counts: Counter[str] = Counter()
        self.id_rng = random.Random(config.seed)
        self.locks: LockTable[SimTask] = LockTable()
        self.fresh: deque[SimTask] = deque()
        self.pending: deque[SimTask] = deque()
        self.stuck: dict[str, list[SimTask]] = {}
        self.workers_used: list[int] = [0] * config.workers
        self.worker_tasks: list[set[str]] = [set() for _ in range(config.workers)]
        self.last_completed: list[float | None] = [None] * config.workers
        self.capacity = config.workers * config.capacity_per_worker
        self.used = 0
        self.live_per_interval: dict[tuple[str, str], int] = defaultdict(int)
        self.max_live_per_interval = 0
        self.successes_per_interval: dict[tuple[str, str], int] = defaultdict(int)
        self.max_successes_per_interval = 0
        self.submissions_per_interval: dict[tuple[str, str], int] = defaultdict(int)
        self.served: dict[str, dict[str, Span]] = defaultdict(dict)
        self._fresh_timer: asyncio.TimerHandle | None = None

    # --- submission --------------------------------------------------------------------

    def add(self, task_id: str, payload: dict[str, Any], datasource: str) -> SimTask:
        """Store a submitted task (RUNNING/WAITING) and start its way to a worker."""
        now = self.wall()
        spans = intervals_of(payload)
        key = (datasource, "+".join(i[2] for i in spans))
        nth = self.submissions_per_interval[key]
        self.submissions_per_interval[key] += 1
        task = new_task(self.config, task_id, payload, datasource, spans, nth=nth, now=now)
        task.say(now, "INFO", "main", f"Task[{task_id}] submitted, type[{task.type}]")
        self._store(task)
        self._live_changed(task, +1)
        return task

    def add_stream_task(
        self,
        supervisor_id: str,
        task_type: str,
        datasource: str,
        generation: int,
        duration_s: float,
        outcome: str = "success",
        message_window: dict[str, str] | None = None,
    ) -> SimTask:
        """A supervisor's `index_kafka`/`index_kinesis` task: no upfront lock. It succeeds
        unless a stream fault gave it a failure `outcome`; `message_window` holds the
        minimum/maximumMessageTime of its ioConfig (REFERENCE §9.3)."""
        now = self.wall()
        task_id = stream_task_id(task_type, supervisor_id, generation, self.id_rng)
        context = {"checkpoints": '{"0":{"0":0}}', "forceTimeChunkLock": True}
        context["useLineageBasedSegmentAllocation"] = True
        payload = {"type": task_type, "id": task_id, "dataSource": datasource, "context": context}
        if message_window:
            payload["ioConfig"] = {"type": task_type.removeprefix("index_"), **message_window}
        task = SimTask(
            id=task_id,
            group_id=f"{task_type}_{supervisor_id}",
            type=task_type,
            datasource=datasource,
            intervals=[],
            payload=payload,
            created=now,
            priority=75,
            parallel=False,
            duration_s=duration_s,
            outcome=outcome,
            supervisor=supervisor_id,
        )
        task.say(now, "INFO", "main", f"Task[{task_id}] created by supervisor[{supervisor_id}]")
        self._store(task)
        return task

    def add_sub_task(self, parent: SimTask, outcome: str) -> SimTask:
        now = self.wall()
        task_id = generated_id("single_phase_sub_task", parent.datasource, self.id_rng, now)
        rng = random.Random(f"{self.config.seed}:{task_id}")
        task = SimTask(
            id=task_id,
            group_id=parent.group_id,
            type="single_phase_sub_task",
            datasource=parent.datasource,
            intervals=parent.intervals,
            payload={"type": "single_phase_sub_task", "id": task_id, "groupId": parent.group_id},
            created=now,
            priority=parent.priority,
            parallel=False,
            duration_s=parent.duration_s * rng.uniform(0.4, 0.8),
            outcome=outcome,
            parent=parent.id,
        )
        parent.children.append(task_id)
        self._store(task)
        return task

    def _store(self, task: SimTask) -> None:
        self.tasks[task.id] = task
        self.active[task.id] = task
        self.status_counts["RUNNING"] += 1
        self.runner_counts["WAITING"] += 1
        self.fresh.append(task)
        if self._fresh_timer is None:
            self._arm_fresh(self.config.lock_delay_s)

    def queue_size(self) -> int:
        return len(self.active)

    # --- waiting -> pending -> running --------------------------------------------------

    def _arm_fresh(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._fresh_timer = loop.call_later(max(0.0, delay), self._drain_fresh)

    def _drain_fresh(self) -> None:
        self._fresh_timer = None
        now = self.wall()
        delay = self.config.lock_delay_s
        while self.fresh:
            task = self.fresh[0]
            wait = task.created + delay - now
            if wait > 0.0005:
                self._arm_fresh(wait)
                break
            self.fresh.popleft()
            self._admit(task, now)
        self._assign()

    def _admit(self, task: SimTask, now: float) -> None:
        """Try to lock; on success the task becomes PENDING and queues for a slot."""
        if not task.active:
            return
        if task.top_level and task.datasource in self.config.stuck_waiting_datasources:
            self.stuck.setdefault(task.datasource, []).append(task)
            return
        failure = FAILURE_KINDS.get(task.outcome)
        if failure is not None and failure.before_running:
            task.say(now, "ERROR", "TaskQueue", failure.log_line)
            self.end(task, "FAILED", failure.status_error, now)
            return
        if task.intervals and task.parent is None:
            if self.locks.conflict(task) is not None:
                self.locks.enqueue(task)
                return
            self.locks.acquire(task)
        self._set_runner(task, "PENDING")
        task.queued(now)
        self.pending.append(task)

    def _assign(self) -> None:
        now = self.wall()
        while self.pending and self.used < self.capacity:
            task = self.pending.popleft()
            if task.active:
                self._start(task, self._least_loaded(), now)

    def _least_loaded(self) -> int:
        used = self.workers_used
        return min(range(len(used)), key=used.__getitem__)

    def _start(self, task: SimTask, worker: int, now: float) -> None:
        self._set_runner(task, "RUNNING")
        task.worker = worker
        task.started = now
        task.location = {"host": f"middlemanager-{worker}", "port": 8100 + worker, "tlsPort": -1}
        self.workers_used[worker] += 1
        self.used += 1
        self.worker_tasks[worker].add(task.id)
        task.say(now, "INFO", "task-runner-0", f"Running task[{task.id}]")
        self.outcomes.started(task)
        for hook in self.on_task_start:
            hook(task)

    def release_stuck(self) -> None:
        """Admit tasks a lifted `stuck_waiting_datasources` fault was holding back."""
        now = self.wall()
        for datasource in [d for d in self.stuck if d not in self.config.stuck_waiting_datasources]:
            for task in self.stuck.pop(datasource):
                self._admit(task, now)
        self._assign()

    def schedule_soon(self) -> None:
        """Kept for callers of the first simulator: re-evaluate what can move now."""
        self.release_stuck()

    # --- ending ------------------------------------------------------------------------

    def end(self, task: SimTask, status: str, error: str | None, now: float) -> None:
        """Move an active task to SUCCESS/FAILED and free what it held."""
        if not task.active:
            return
        was_running = task.runner == "RUNNING"
        self._set_runner(task, None)
        self.status_counts["RUNNING"] -= 1
        self.status_counts[status] += 1
        task.status, task.error_msg, task.finished, task.runner = status, error, now, "NONE"
        if task.timer is not None:
            task.timer.cancel()
            task.timer = None
        if was_running and task.started is not None:
            task.duration_ms = int((now - task.started) * 1000)
        if task.worker is not None:
            self.workers_used[task.worker] -= 1
            self.used -= 1
            self.worker_tasks[task.worker].discard(task.id)
            self.last_completed[task.worker] = now
        del self.active[task.id]
        if task.id in self.tasks:
            insort(self.completed, task, key=_created)
        if task.top_level:
            self._live_changed(task, -1)
        if self.locks.holds(task.id):
            self._wake(task.datasource, self.locks.release(task), now)
        self.outcomes.ended(task)
        for hook in self.on_task_end:
            hook(task)
        self._assign()

    def _wake(self, datasource: str, released: list[Span], now: float) -> None:
        for queue in self.locks.candidates(datasource, released):
            while queue:
                head = queue[0]
                if head.active and self.locks.conflict(head) is not None:
                    break
                queue.popleft()
                if head.active:
                    self._admit(head, now)
        self.locks.prune(datasource)

    def shutdown(self, task_id: str) -> None:
        """User shutdown: FAILED with "Shutdown request from user", duration stays -1."""
        task = self.tasks[task_id]
        if not task.active:
            return
        now = self.wall()
        task.say(now, "INFO", "main", SHUTDOWN_MESSAGE)
        self.end(task, "FAILED", SHUTDOWN_MESSAGE, now)
        task.duration_ms = -1

    def forget_active(self) -> int:
        """An Overlord restart that loses its running tasks: they vanish from storage."""
        lost = list(self.active.values())
        now = self.wall()
        for task in lost:
            del self.tasks[task.id]  # before end(), so it is not filed as completed
        # Cleared first: ending a lost task may start new ones (a supervisor's next task).
        self.fresh.clear()
        self.pending.clear()
        self.stuck.clear()
        for task in lost:
            self.end(task, "FAILED", None, now)
            self.status_counts["FAILED"] -= 1
        return len(lost)

    def fail_active(self, message: str) -> int:
        """An Overlord restart that finds its tasks' workers gone: all fail with `message`."""
        lost = list(self.active.values())
        now = self.wall()
        for task in lost:
            self.end(task, "FAILED", message, now)
        return len(lost)

    def _set_runner(self, task: SimTask, runner: str | None) -> None:
        if task.active:
            self.runner_counts[task.runner] -= 1
        if runner is not None:
            task.runner = runner
            self.runner_counts[runner] += 1

    def _live_changed(self, task: SimTask, delta: int) -> None:
        key = (task.datasource, task.interval_key)
        self.live_per_interval[key] += delta
        if self.live_per_interval[key] <= 0:
            del self.live_per_interval[key]
        else:
            self.max_live_per_interval = max(
                self.max_live_per_interval, self.live_per_interval[key]
            )

    def cancel_timers(self) -> None:
        if self._fresh_timer is not None:
            self._fresh_timer.cancel()
            self._fresh_timer = None
        for task in self.active.values():
            if task.timer is not None:
                task.timer.cancel()
                task.timer = None


def _created(task: SimTask) -> float:
    return task.created
