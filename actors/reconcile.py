"""Reconciliation: merge what the log says with what the Overlord says.

It runs at boot (after folding the log, before actors resume), periodically while the daemon
is up, and on demand. The per-job decision is a pure function (`decide_job`) of the job's
state and the Overlord's view of its task; the `Reconciler` gathers that view in bulk
(`POST /taskStatus` in chunks, one `GET /tasks?max=0` for runner states, one `GET /tasks`
for orphans), records every non-trivial decision as a `ReconcileDecided` event with its
evidence, and hands each job the commands to apply through its own actor, so the FSM remains
the only thing that changes a job's state.

| local state                               | Overlord                | decision          |
|-------------------------------------------|-------------------------|-------------------|
| intent recorded, outcome not (submitting) | has the task            | adopt it          |
| intent recorded, outcome not (submitting) | does not have it        | resubmit (same id)|
| live (submitted/waiting/pending/running)  | finished                | record outcome    |
| live                                      | unknown (404 confirmed) | lost: transient   |
| shutdown intended, not confirmed          | any                     | repeat shutdown   |
| nothing (an id with our prefix)           | has it active           | orphan (policy)   |

Orphans are reported, adopted (a new job from the stored spec), shut down, or ignored. Only
an active task (WAITING/PENDING/RUNNING) is an orphan: it may hold locks and slots. A finished
one is history, and the Overlord lists it for a day, so it is neither warned about nor
recorded. The policy's action is repeated on every run while the orphan lives (shutdown and
adoption are safe to repeat, and a failed one deserves another try), but each decision about
a task is recorded once: runs and boots against an unchanged Overlord append nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import structlog

from actors.job.messages import (
    Accept,
    Adopt,
    Command,
    RecordAlreadyExists,
    RecordLost,
    RecordStatus,
)
from actors.job.state import DRUID_LIVE, JobState
from actors.ports import Clock, Overlord
from actors.stream_names import JOB_PREFIX, RECONCILE_STREAM, job_of_stream
from actors.task_status import TaskView, active_tasks, read_statuses, runner_states
from eventlog import EventLog
from eventlog.events import ReconcileDecided, spec_raw
from eventlog.records import ANY_VERSION
from overlord.errors import OverlordError, TaskNotFoundError
from overlord.models import TaskStatusPlus
from overlord.urls import scrub_urls
from specs.compiler import spec_hash

logger = structlog.get_logger("druid_orch.reconcile")

OrphanPolicy = Literal["report", "adopt", "shutdown", "ignore"]


# What reconciliation decides for one job (`decide_job`); orphans get `orphan-<action>`.
Decision = Literal[
    "resume",
    "in-sync",
    "repeat-shutdown",
    "resubmit",
    "adopt",
    "confirm-lost",
    "lost",
    "record-outcome",
]
# Decisions that change nothing: not recorded.
UNRECORDED: frozenset[Decision] = frozenset({"resume", "in-sync"})


class JobDecision(msgspec.Struct, frozen=True):
    job_id: str
    task_id: str | None
    decision: Decision
    evidence: str
    commands: list[Any] = []
    needs_confirmation: bool = False


@dataclass(slots=True)
class Orphans:
    """What one run found and did about tasks with our prefix that the log does not know."""

    plan: dict[str, list[Command]] = field(default_factory=dict)  # adoptions, per job
    events: list[ReconcileDecided] = field(default_factory=list)  # decisions not yet recorded
    task_ids: list[str] = field(default_factory=list)
    requests: int = 0


class ReconcileReport(msgspec.Struct, kw_only=True):
    started_at: float
    duration_s: float = 0.0
    jobs_checked: int = 0
    decisions: dict[str, int] = {}
    orphans: list[str] = []
    orphan_action: str = "report"
    overlord_requests: int = 0
    error: str | None = None


def decide_job(state: JobState, view: TaskView | None, at: float) -> JobDecision:
    """What reconciliation should do for one non-terminal job (pure)."""
    tid = state.task_id
    if state.terminal or tid is None or state.phase in ("accepted", "retry_wait", "failed"):
        return JobDecision(state.job_id, tid, "resume", "no Druid task is live for this job")
    if state.shutdown == "intended":
        return JobDecision(
            state.job_id, tid, "repeat-shutdown", "shutdown intended, outcome not recorded"
        )
    if state.phase == "submitting":
        if view is None:
            return JobDecision(
                state.job_id, tid, "resubmit", f"intent recorded; the Overlord has no task {tid}"
            )
        commands: list[Command] = [RecordAlreadyExists(at=at, task_id=tid, status=view.status)]
        commands.extend(_observed(tid, view, at))
        return JobDecision(
            state.job_id,
            tid,
            "adopt",
            f"intent recorded; the Overlord has {tid} ({view.status})",
            commands,
        )
    if state.phase in DRUID_LIVE or state.phase == "cancelling":
        if view is None:
            return JobDecision(
                state.job_id,
                tid,
                "confirm-lost",
                f"{tid} is missing from the bulk status",
                needs_confirmation=True,
            )
        if view.status != "RUNNING":
            return JobDecision(
                state.job_id,
                tid,
                "record-outcome",
                f"{tid} finished on the Overlord: {view.status}",
                _observed(tid, view, at),
            )
        return JobDecision(
            state.job_id,
            tid,
            "in-sync",
            f"{tid} is {view.runner or 'RUNNING'}",
            _observed(tid, view, at),
        )
    return JobDecision(state.job_id, tid, "resume", f"phase {state.phase}")


def _observed(tid: str, view: TaskView, at: float) -> list[Command]:
    return [
        RecordStatus(
            at=at,
            task_id=tid,
            status=view.status,
            runner_status=view.runner,
            duration_ms=view.duration_ms,
            error_msg=view.error_msg,
        )
    ]


def job_id_of_task(task_id: str) -> tuple[str, int] | None:
    """Split `<job id>_<attempt>` as built by `specs.compiler.task_id_for`."""
    job_id, sep, attempt = task_id.rpartition("_")
    if not sep or not attempt.isdigit():
        return None
    return job_id, int(attempt)


class Reconciler:
    def __init__(
        self,
        event_log: EventLog,
        overlord: Overlord,
        *,
        clock: Clock = time.time,
        prefix: str = "orch",
        orphans: OrphanPolicy = "report",
        chunk: int = 500,
        default_max_attempts: int = 3,
    ) -> None:
        self.log = event_log
        self.overlord = overlord
        self.clock = clock
        self.prefix = prefix
        self.orphans = orphans
        self.chunk = chunk
        self.default_max_attempts = default_max_attempts
        # (task id, decision) of every orphan decision in the log; read on first need.
        self._recorded_orphans: set[tuple[str, str]] | None = None
        # The periodic and on-demand runs may overlap; one at a time keeps the check of what
        # is recorded and the append of what is not from interleaving.
        self._running = asyncio.Lock()

    async def run(
        self, states: Iterable[JobState]
    ) -> tuple[ReconcileReport, dict[str, list[Command]]]:
        """Decide for every non-terminal job; return the report and the commands per job.

        Raises:
            OverlordError: the Overlord could not be asked; nothing was decided.
        """
        async with self._running:
            return await self._run(states)

    async def _run(
        self, states: Iterable[JobState]
    ) -> tuple[ReconcileReport, dict[str, list[Command]]]:
        started = self.clock()
        report = ReconcileReport(started_at=started, orphan_action=self.orphans)
        live = [s for s in states if not s.terminal and s.phase != "new"]
        report.jobs_checked = len(live)
        views, requests, listing = await self._views([s.task_id for s in live if s.task_id])
        report.overlord_requests += requests
        at = self.clock()
        plan: dict[str, list[Command]] = {}
        decided: list[ReconcileDecided] = []
        for state in live:
            decision = decide_job(state, views.get(state.task_id or ""), at)
            if decision.needs_confirmation:
                decision = await self._confirm(state, decision, at)
                report.overlord_requests += 1
            report.decisions[decision.decision] = report.decisions.get(decision.decision, 0) + 1
            if decision.commands:
                plan[state.job_id] = list(decision.commands)
            if decision.decision not in UNRECORDED:
                decided.append(
                    ReconcileDecided(
                        at=at,
                        job_id=state.job_id,
                        task_id=decision.task_id or "",
                        decision=decision.decision,
                        evidence=decision.evidence,
                    )
                )
        orphans = await self._orphans(at, listing)
        report.orphans = orphans.task_ids
        report.overlord_requests += orphans.requests
        plan.update(orphans.plan)
        decided.extend(orphans.events)
        if decided:
            await self.log.append(RECONCILE_STREAM, decided, ANY_VERSION)
        # Only once the log has them: a refused append leaves them to be decided again.
        if self._recorded_orphans is not None:
            self._recorded_orphans.update((e.task_id, e.decision) for e in orphans.events)
        report.duration_s = self.clock() - started
        logger.info(
            "reconciled",
            jobs=report.jobs_checked,
            decisions=report.decisions,
            orphans=len(orphans.task_ids),
            requests=report.overlord_requests,
        )
        return report, plan

    async def _views(
        self, task_ids: list[str]
    ) -> tuple[dict[str, TaskView], int, list[TaskStatusPlus] | None]:
        """The Overlord's view of `task_ids`, the requests it took, and the active-task
        listing if one was needed (the orphan check reuses it)."""
        read = await read_statuses(self.overlord, task_ids, self.chunk)
        views, requests = read.views, read.requests
        rows: list[TaskStatusPlus] | None = None
        if any(v.status == "RUNNING" for v in views.values()):
            rows = await active_tasks(self.overlord)
            requests += 1
            for tid, runner in runner_states(rows).items():
                current = views.get(tid)
                if current is not None and current.status == "RUNNING":
                    views[tid] = msgspec.structs.replace(current, runner=runner)
        return views, requests, rows

    async def _confirm(self, state: JobState, decision: JobDecision, at: float) -> JobDecision:
        tid = state.task_id
        assert tid is not None
        try:
            st = await self.overlord.status(tid)
        except TaskNotFoundError:
            return JobDecision(
                state.job_id,
                tid,
                "lost",
                f"{tid} missing from POST /taskStatus and GET /task/{{id}}/status answered 404",
                [
                    RecordLost(
                        at=at,
                        task_id=tid,
                        evidence="the Overlord does not know the task "
                        "(found during reconciliation)",
                    )
                ],
            )
        decided = decide_job(state, TaskView.of(st), at)
        return msgspec.structs.replace(decided, evidence=decided.evidence + " (single status call)")

    async def _orphans(self, at: float, listing: list[TaskStatusPlus] | None) -> Orphans:
        found = Orphans()
        if self.orphans == "ignore":
            return found
        # Active tasks only: finished ones hold nothing, and a day of them can be a long list.
        # The runner states' listing of this run is the same one, when it was needed.
        rows = listing
        if rows is None:
            rows = await active_tasks(self.overlord)
            found.requests += 1
        known = {job_of_stream(sid) for sid, _v, _c in await self.log.all_streams(JOB_PREFIX)}
        for row in rows:
            # An Overlord that ignores `max=0` must not turn history into orphans either.
            if row.status_code != "RUNNING" or not row.id.startswith(f"{self.prefix}_"):
                continue
            parsed = job_id_of_task(row.id)
            if parsed is None or parsed[0] in known:
                continue
            found.task_ids.append(row.id)
            action, evidence = await self._act_on_orphan(row, *parsed, at, found)
            decision = f"orphan-{action}"
            if (row.id, decision) in await self._orphan_decisions():
                continue
            logger.warning("orphan_task", task_id=row.id, action=action)
            found.events.append(
                ReconcileDecided(
                    at=at, job_id=parsed[0], task_id=row.id, decision=decision, evidence=evidence
                )
            )
        return found

    async def _act_on_orphan(
        self, row: TaskStatusPlus, job_id: str, attempt: int, at: float, found: Orphans
    ) -> tuple[str, str]:
        """Carry out the orphan policy on one task; the action taken and its evidence."""
        action: str = self.orphans
        evidence = (
            f"{row.id} carries our prefix but is not in the log "
            f"({row.runner_status_code or row.status_code})"
        )
        try:
            if action == "adopt":
                payload = await self.overlord.task_spec(row.id)
                found.requests += 1
                found.plan[job_id] = self._adoption(job_id, row.id, attempt, payload, evidence, at)
            elif action == "shutdown":
                await self.overlord.shutdown(row.id)
                found.requests += 1
        except OverlordError as exc:
            error = scrub_urls(str(exc))
            logger.warning("orphan_action_failed", task_id=row.id, action=action, error=error)
            return "report", f"{evidence}; {action} failed: {error}"
        return action, evidence

    async def _orphan_decisions(self) -> set[tuple[str, str]]:
        # Read from the log rather than kept only in memory, so a restart does not record
        # again what an earlier run did; read once, since this process is its only writer.
        if self._recorded_orphans is None:
            self._recorded_orphans = {
                (r.event.task_id, r.event.decision)
                for r in await self.log.read_stream(RECONCILE_STREAM)
                if isinstance(r.event, ReconcileDecided) and r.event.decision.startswith("orphan-")
            }
        return self._recorded_orphans

    def _adoption(
        self,
        job_id: str,
        task_id: str,
        attempt: int,
        payload: dict[str, Any],
        evidence: str,
        at: float,
    ) -> list[Command]:
        spec = {k: v for k, v in payload.items() if k not in ("id", "groupId", "resource")}
        datasource, interval = _target(spec)
        accept = Accept(
            at=at,
            job_id=job_id,
            datasource=datasource,
            interval=interval,
            spec=spec_raw(spec),
            spec_hash=spec_hash(spec),
            max_attempts=max(self.default_max_attempts, attempt),
            pipeline="adopted",
        )
        return [Adopt(at=at, accept=accept, task_id=task_id, attempt=attempt, evidence=evidence)]


def _target(task: dict[str, Any]) -> tuple[str, str]:
    """The datasource and interval an adopted task works on: an ingestion spec's dataSchema,
    or a `compact` task's own dataSource and inputSpec interval."""
    if task.get("type") == "compact":
        input_spec = (task.get("ioConfig") or {}).get("inputSpec") or {}
        interval = input_spec.get("interval") or task.get("interval") or ""
        return str(task.get("dataSource", "")), str(interval)
    schema = (task.get("spec") or {}).get("dataSchema") or {}
    intervals = (schema.get("granularitySpec") or {}).get("intervals") or [""]
    return str(schema.get("dataSource", "")), str(intervals[0])
