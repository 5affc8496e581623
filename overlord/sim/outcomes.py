"""How simulated tasks end: the timer that finishes them with their drawn outcome, the
reports and log lines they leave, and the parent/sub-task choreography of parallel tasks.

Kept apart from the scheduler (`sim_cluster`) because it changes for a different reason: when
we learn more about what Druid reports, not when we change how slots are handed out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from overlord.sim.catalog import (
    FAILURE_KINDS,
    PHASE_FAILURE,
    FailureKind,
    ReportMode,
    completion_report,
    live_report,
    status_error,
)
from overlord.sim.tasks import SimTask

if TYPE_CHECKING:
    from overlord.sim.cluster import SimCluster


class TaskOutcomes:
    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    # --- called by the scheduler -------------------------------------------------------

    def started(self, task: SimTask) -> None:
        """A task got a slot: arm its finish timer, or start its sub-tasks."""
        failure = FAILURE_KINDS.get(task.outcome)
        if self._runs_sub_tasks(task) and (failure is None or failure.has_report):
            # A failure with a report happens in a sub-task; one without (a lost worker, an
            # OOM kill) hits the parent itself, on its own timer, below.
            task.splits_left = self.cluster.config.sub_task_splits
            tuning = (task.payload.get("spec") or {}).get("tuningConfig") or {}
            for _ in range(min(int(tuning.get("maxNumConcurrentSubTasks") or 1), 64)):
                self._next_split(task)
            return
        loop = asyncio.get_running_loop()
        task.timer = loop.call_later(task.duration_s, self.finish, task.id)

    def ended(self, task: SimTask) -> None:
        """After any task ended: tell its parent; stop its own sub-tasks if it had any."""
        cluster = self.cluster
        for child_id in task.children:
            child = cluster.tasks.get(child_id)
            if child is not None and child.active:
                # The parent cancels its sub-tasks through the shutdown API, so they read
                # like a user shutdown.
                cluster.shutdown(child_id)
        parent = cluster.tasks.get(task.parent) if task.parent else None
        if parent is None or not parent.active:
            return
        if task.status == "FAILED":
            self._fail_parent(parent)
        elif parent.splits_left > 0:
            self._next_split(parent)
        elif not any(cluster.tasks[c].active for c in parent.children if c in cluster.tasks):
            self.finish(parent.id)

    def finish(self, task_id: str) -> None:
        """The task's time is up (or its sub-tasks are done): end it with its outcome."""
        cluster = self.cluster
        task = cluster.tasks.get(task_id)
        if task is None or not task.active:
            return
        now = cluster.wall()
        task.timer = None
        failure = FAILURE_KINDS.get(task.outcome)
        if failure is None:
            task.say(now, "INFO", "task-runner-0", "Task completed with status SUCCESS")
            task.report = self._report(task, None, now)
            cluster.end(task, "SUCCESS", None, now)
            if task.top_level:
                self._record_success(task)
            return
        task.say(now, "ERROR", "task-runner-0", failure.log_line)
        task.say(now, "INFO", "task-runner-0", "Task completed with status FAILED")
        if failure.has_report:
            task.report = self._report(task, failure, now)
        cluster.end(task, "FAILED", status_error(failure, parallel=task.parallel), now)

    def live_report(self, task: SimTask) -> dict[str, Any] | None:
        """What a running task's peon serves at `/reports`; None before it runs."""
        if task.runner != "RUNNING" or task.type == "noop":
            return None
        share = min(1.0, (self.cluster.wall() - (task.started or 0)) / max(task.duration_s, 1e-3))
        return live_report(task.id, int(self.cluster.config.rows_per_task * share))

    # --- parallel tasks ----------------------------------------------------------------

    def _runs_sub_tasks(self, task: SimTask) -> bool:
        return self.cluster.config.sub_tasks and task.parallel and task.type == "index_parallel"

    def _next_split(self, parent: SimTask) -> None:
        if parent.splits_left <= 0:
            return
        first = not parent.children
        parent.splits_left -= 1
        failure = FAILURE_KINDS.get(parent.outcome)
        outcome = parent.outcome if failure is not None and first else "success"
        child = self.cluster.add_sub_task(parent, outcome)
        parent.say(self.cluster.wall(), "INFO", "task-monitor", f"Submitted sub-task[{child.id}]")

    def _fail_parent(self, parent: SimTask) -> None:
        now = self.cluster.wall()
        failure = FAILURE_KINDS.get(parent.outcome)
        parent.say(now, "ERROR", "task-monitor", "A sub-task failed; stopping all sub-tasks")
        if failure is not None:
            parent.say(now, "ERROR", "task-monitor", failure.log_line)
        parent.report = self._report(parent, failure or FAILURE_KINDS["s3_throttle"], now)
        self.cluster.end(parent, "FAILED", PHASE_FAILURE, now)

    # --- reports and records -----------------------------------------------------------

    def _report(
        self, task: SimTask, failure: FailureKind | None, now: float
    ) -> dict[str, Any] | None:
        if task.type in ("noop", "single_phase_sub_task"):
            return None  # neither writes an ingestion report the Overlord serves
        mode: ReportMode = "sequential"
        records: dict[str, int] | None = None
        rows = self.cluster.config.rows_per_task
        if task.supervisor is not None:
            mode = "streaming"
            partitions = self.cluster.config.stream_partitions
            records = {str(p): rows // partitions for p in range(partitions)}
        elif task.parallel:
            mode = "parallel"
        tuning = (task.payload.get("spec") or {}).get("tuningConfig") or {}
        return completion_report(
            task.id,
            mode=mode,
            context=dict(task.payload.get("context") or {}),
            rows=rows,
            failure=failure,
            saved_parse_exceptions=int(tuning.get("maxSavedParseExceptions") or 0),
            at_ms=int(now * 1000),
            records_processed=records,
        )

    def _record_success(self, task: SimTask) -> None:
        cluster = self.cluster
        key = (task.datasource, task.interval_key)
        cluster.successes_per_interval[key] += 1
        cluster.max_successes_per_interval = max(
            cluster.max_successes_per_interval, cluster.successes_per_interval[key]
        )
        served = cluster.served[task.datasource]
        for span in task.intervals:
            served[span[2]] = span
