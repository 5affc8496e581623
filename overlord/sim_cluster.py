"""The simulated cluster behind the simulator's HTTP surface: task storage, locks, worker
slots, task lifecycles and their outcomes.

A submitted task is stored as RUNNING/WAITING; once it holds a time-chunk lock on its
intervals it becomes RUNNING/PENDING; once a worker slot is free it becomes RUNNING/RUNNING;
after its duration it ends SUCCESS or FAILED with a report and a log. Durations and outcomes
are drawn from a random generator seeded with `(seed, task id)`, so a given seed and task id
always behave the same, whatever order tasks arrive in.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from overlord.sim_catalog import (
    DEFAULT_STRUCTURAL,
    DEFAULT_TRANSIENT,
    FAILURE_KINDS,
    FailureKind,
    completion_report,
    live_report,
    status_error,
)

EPOCH = "1970-01-01T00:00:00.000Z"
NO_LOCATION: dict[str, Any] = {"host": None, "port": -1, "tlsPort": -1}


class ClusterConfig(msgspec.Struct, kw_only=True):
    """Shape and behaviour of the simulated cluster (also the `[cluster]` of a scenario)."""

    seed: int = 0
    workers: int = 4
    capacity_per_worker: int = 4
    category: str = "_default_worker_category"
    min_duration_s: float = 0.3
    max_duration_s: float = 1.5
    lock_delay_s: float = 0.02
    transient_rate: float = 0.0
    structural_rate: float = 0.0
    transient_kinds: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_TRANSIENT))
    structural_kinds: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_STRUCTURAL))
    # "<datasource>/<interval>" -> outcome per submission, e.g. ["transient:s3_throttle", "success"]
    scripted: dict[str, list[str]] = msgspec.field(default_factory=dict)
    stuck_waiting_datasources: list[str] = msgspec.field(default_factory=list)
    recently_finished_s: float = 24 * 3600.0
    druid_version: int = 36
    rows_per_task: int = 10_000


@dataclass(slots=True)
class SimTask:
    id: str
    group_id: str
    type: str
    datasource: str
    intervals: list[tuple[float, float, str]]
    payload: dict[str, Any]
    created: float
    priority: int
    parallel: bool
    duration_s: float
    outcome: str  # "success" or a failure kind name
    status: str = "RUNNING"
    runner: str = "WAITING"
    queue_inserted: float | None = None
    started: float | None = None
    finished: float | None = None
    duration_ms: int = -1
    error_msg: str | None = None
    location: dict[str, Any] = field(default_factory=lambda: dict(NO_LOCATION))
    worker: int | None = None
    report: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)
    holds_lock: bool = False
    timer: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        return self.status == "RUNNING"


def iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_instant(text: str) -> float:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def parse_interval(text: str) -> tuple[float, float, str]:
    start, _, end = text.partition("/")
    if not end:
        raise ValueError(f"interval {text!r} has no '/'")
    lo, hi = parse_instant(start), parse_instant(end)
    return lo, hi, f"{iso(lo)}/{iso(hi)}"


def generated_id(task_type: str, datasource: str, rng: random.Random, now: float) -> str:
    """`<type>_<dataSource>_<8 chars a..p>_<now>`, as Druid's AbstractTask.getOrMakeId does."""
    suffix = "".join(rng.choice(string.ascii_lowercase[:16]) for _ in range(8))
    return f"{task_type}_{datasource}_{suffix}_{iso(now)}"


class SimCluster:
    """Task storage plus the scheduler that moves tasks through their lifecycle."""

    def __init__(self, config: ClusterConfig, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.wall = wall
        self.tasks: dict[str, SimTask] = {}
        self.id_rng = random.Random(config.seed)
        self.workers_used: list[int] = [0] * config.workers
        self.worker_tasks: list[set[str]] = [set() for _ in range(config.workers)]
        self.last_completed: list[float | None] = [None] * config.workers
        self.pending_queue: list[str] = []
        self.waiting: list[str] = []
        self.live_per_interval: dict[tuple[str, str], int] = defaultdict(int)
        self.max_live_per_interval = 0
        self.successes_per_interval: dict[tuple[str, str], int] = defaultdict(int)
        self.max_successes_per_interval = 0
        self.submissions_per_interval: dict[tuple[str, str], int] = defaultdict(int)
        self.lock_holders: dict[str, set[str]] = defaultdict(set)
        self._schedule_pending = False

    # --- submission --------------------------------------------------------------------

    def add(self, task_id: str, payload: dict[str, Any], datasource: str) -> SimTask:
        now = self.wall()
        task_type = str(payload.get("type"))
        intervals = [parse_interval(i) for i in _intervals_of(payload)]
        key = (datasource, "+".join(i[2] for i in intervals))
        nth = self.submissions_per_interval[key]
        self.submissions_per_interval[key] += 1
        rng = random.Random(f"{self.config.seed}:{task_id}")
        duration = rng.uniform(self.config.min_duration_s, self.config.max_duration_s)
        outcome = self._outcome(rng, f"{datasource}/{key[1]}", nth)
        tuning = (payload.get("spec") or {}).get("tuningConfig") or {}
        parallel = int(tuning.get("maxNumConcurrentSubTasks") or 1) > 1
        context = payload.setdefault("context", {})
        priority = int(context.get("priority", 50 if task_type.startswith("index") else 0))
        task = SimTask(
            id=task_id,
            group_id=str(payload.get("groupId") or task_id),
            type=task_type,
            datasource=datasource,
            intervals=intervals,
            payload=payload,
            created=now,
            priority=priority,
            parallel=parallel,
            duration_s=duration,
            outcome=outcome,
        )
        task.log.append(f"{iso(now)} INFO [main] Task[{task_id}] submitted, type[{task_type}]")
        self.tasks[task_id] = task
        self.waiting.append(task_id)
        self._live_changed(task, +1)
        self.schedule_soon()
        return task

    def _outcome(self, rng: random.Random, key: str, nth: int) -> str:
        script = self.config.scripted.get(key)
        if script:
            step = script[min(nth, len(script) - 1)]
            return step.split(":", 1)[1] if ":" in step else step
        roll = rng.random()
        if roll < self.config.structural_rate and self.config.structural_kinds:
            return rng.choice(self.config.structural_kinds)
        if roll < self.config.structural_rate + self.config.transient_rate:
            return rng.choice(self.config.transient_kinds)
        return "success"

    # --- scheduling --------------------------------------------------------------------

    def schedule_soon(self) -> None:
        if self._schedule_pending:
            return
        self._schedule_pending = True
        asyncio.get_running_loop().call_soon(self._schedule)

    def _schedule(self) -> None:
        self._schedule_pending = False
        now = self.wall()
        still_waiting: list[str] = []
        for task_id in self.waiting:
            task = self.tasks.get(task_id)
            if task is None or not task.active:
                continue
            if now - task.created < self.config.lock_delay_s or not self._try_lock(task):
                still_waiting.append(task_id)
                continue
            task.runner = "PENDING"
            task.queue_inserted = now
            self.pending_queue.append(task_id)
        self.waiting = still_waiting
        remaining: list[str] = []
        for task_id in self.pending_queue:
            task = self.tasks.get(task_id)
            if task is None or not task.active:
                continue
            worker = self._free_worker()
            if worker is None:
                remaining.append(task_id)
                continue
            self._start(task, worker, now)
        self.pending_queue = remaining
        if self.waiting:
            loop = asyncio.get_running_loop()
            loop.call_later(max(self.config.lock_delay_s, 0.01), self.schedule_soon)

    def _try_lock(self, task: SimTask) -> bool:
        if task.datasource in self.config.stuck_waiting_datasources:
            return False
        holders = self.lock_holders[task.datasource]
        for other_id in holders:
            other = self.tasks[other_id]
            if other.group_id != task.group_id and _overlaps(task.intervals, other.intervals):
                return False
        task.holds_lock = True
        holders.add(task.id)
        return True

    def _free_worker(self) -> int | None:
        best: int | None = None
        for i, used in enumerate(self.workers_used):
            if used < self.config.capacity_per_worker and (
                best is None or used < self.workers_used[best]
            ):
                best = i
        return best

    def _start(self, task: SimTask, worker: int, now: float) -> None:
        task.runner = "RUNNING"
        task.worker = worker
        task.started = now
        task.location = {"host": f"middlemanager-{worker}", "port": 8100 + worker, "tlsPort": -1}
        self.workers_used[worker] += 1
        self.worker_tasks[worker].add(task.id)
        task.log.append(f"{iso(now)} INFO [task-runner-0] Running task[{task.id}]")
        loop = asyncio.get_running_loop()
        task.timer = loop.call_later(task.duration_s, self._finish, task.id)

    def _finish(self, task_id: str) -> None:
        task = self.tasks.get(task_id)
        if task is None or not task.active:
            return
        now = self.wall()
        failure = FAILURE_KINDS.get(task.outcome)
        rows = self.config.rows_per_task
        context = dict(task.payload.get("context") or {})
        if failure is None:
            task.log.append(f"{iso(now)} INFO [task-runner-0] Task completed with status SUCCESS")
            task.report = completion_report(
                task.id, parallel=task.parallel, context=context, rows=rows, failure=None
            )
            self._end(task, "SUCCESS", None, now)
            key = (task.datasource, "+".join(i[2] for i in task.intervals))
            self.successes_per_interval[key] += 1
            self.max_successes_per_interval = max(
                self.max_successes_per_interval, self.successes_per_interval[key]
            )
        else:
            task.log.append(f"{iso(now)} ERROR [task-runner-0] {failure.log_line}")
            task.log.append(f"{iso(now)} INFO [task-runner-0] Task completed with status FAILED")
            if failure.has_report:
                task.report = completion_report(
                    task.id, parallel=task.parallel, context=context, rows=rows, failure=failure
                )
            self._end(task, "FAILED", status_error(failure, parallel=task.parallel), now)
        self.schedule_soon()

    def _end(self, task: SimTask, status: str, error: str | None, now: float) -> None:
        was_running = task.runner == "RUNNING"
        task.status = status
        task.error_msg = error
        task.finished = now
        task.runner = "NONE"
        if task.holds_lock:
            task.holds_lock = False
            self.lock_holders[task.datasource].discard(task.id)
        if task.timer is not None:
            task.timer.cancel()
            task.timer = None
        if was_running and task.started is not None:
            task.duration_ms = int((now - task.started) * 1000)
        if task.worker is not None:
            self.workers_used[task.worker] -= 1
            self.worker_tasks[task.worker].discard(task.id)
            self.last_completed[task.worker] = now
        self._live_changed(task, -1)

    def shutdown(self, task_id: str) -> None:
        """User shutdown: FAILED with "Shutdown request from user", duration stays -1."""
        task = self.tasks[task_id]
        if not task.active:
            return
        now = self.wall()
        task.log.append(f"{iso(now)} INFO [main] Shutdown request from user")
        self._end(task, "FAILED", "Shutdown request from user", now)
        task.duration_ms = -1
        self.schedule_soon()

    def forget_active(self) -> int:
        """An Overlord restart that loses its running tasks: they vanish from storage."""
        lost = [t for t in self.tasks.values() if t.active]
        for task in lost:
            self._end(task, "FAILED", None, self.wall())
            del self.tasks[task.id]
        self.waiting.clear()
        self.pending_queue.clear()
        return len(lost)

    def _live_changed(self, task: SimTask, delta: int) -> None:
        key = (task.datasource, "+".join(i[2] for i in task.intervals))
        self.live_per_interval[key] += delta
        if self.live_per_interval[key] <= 0:
            del self.live_per_interval[key]
        else:
            self.max_live_per_interval = max(
                self.max_live_per_interval, self.live_per_interval[key]
            )

    def live_report(self, task: SimTask) -> dict[str, Any] | None:
        if task.runner != "RUNNING":
            return None
        return live_report(task.id, self.config.rows_per_task // 2)

    def failure_kind(self, task: SimTask) -> FailureKind | None:
        return FAILURE_KINDS.get(task.outcome)

    def cancel_timers(self) -> None:
        for task in self.tasks.values():
            if task.timer is not None:
                task.timer.cancel()
                task.timer = None


def _intervals_of(payload: dict[str, Any]) -> list[str]:
    spec = payload.get("spec") or {}
    schema = spec.get("dataSchema") or payload.get("dataSchema") or {}
    granularity = schema.get("granularitySpec") or {}
    intervals = granularity.get("intervals")
    if intervals:
        return [str(i) for i in intervals]
    io_config = payload.get("ioConfig") or {}
    interval = payload.get("interval") or (io_config.get("inputSpec") or {}).get("interval")
    if interval:
        return [str(interval)]
    return ["1000-01-01T00:00:00.000Z/3000-01-01T00:00:00.000Z"]  # no intervals: whole timeline


def _overlaps(a: list[tuple[float, float, str]], b: list[tuple[float, float, str]]) -> bool:
    return any(x[0] < y[1] and y[0] < x[1] for x in a for y in b)
