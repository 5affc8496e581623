"""Circuit breakers, with their state kept in the event log so they survive restarts.

* The **Overlord breaker** watches every Overlord call (transport errors, timeouts, 5xx, 503).
  Past a failure rate over a sliding window it opens: no submissions, no polling (calls fail
  fast with `BreakerOpenError`, which the poller and actors treat as "try later", so nothing
  is marked failed because of the outage). After `open_s` one probe call goes through
  (half-open); its outcome closes the breaker or opens it again for longer.
* A **datasource breaker** opens after `structural_limit` structural failures of one
  datasource within `window_s`, and stays open until a person resumes the datasource
  (`Orchestrator.resume_datasource`, the API or the CLI). While open, that datasource's jobs
  wait before submitting.

The transition logic is pure (`actors.supervision.policy`); this module applies it,
wraps the client, and
records `BreakerOpened` / `BreakerHalfOpened` / `BreakerClosed` events.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import structlog

from actors.errors import BreakerOpenError
from actors.job.actor import AttemptPlan, SubmissionGate
from actors.job.state import JobState
from actors.ports import Clock, Overlord
from actors.stream_names import BREAKER_PREFIX, breaker_of_stream, breaker_stream
from actors.supervision.policy import (
    BreakerPolicy,
    BreakerState,
    Transition,
    breaker_allows,
    breaker_record,
    breaker_retry_at,
)
from actors.supervision.slots import SlotBudget
from eventlog import EventLog
from eventlog.events import BreakerClosed, BreakerHalfOpened, BreakerOpened, Event
from eventlog.records import ANY_VERSION
from eventlog.replay import last_event
from overlord.errors import OverlordError
from overlord.models import (
    DataSourceCoverage,
    SupervisorCreated,
    SupervisorState,
    SupervisorStatus,
    TaskStatus,
    TaskStatusPlus,
    TotalWorkerCapacity,
    WorkerInfo,
)

if TYPE_CHECKING:
    from actors.warm_start import WarmStart

logger = structlog.get_logger("druid_orch.breakers")

OVERLORD = "overlord"


class DatasourcePolicy(msgspec.Struct, frozen=True, kw_only=True):
    # A limit of 0 would pause a datasource before its first failure; a recheck of 0 would
    # spin the paused jobs' actors.
    structural_limit: Annotated[int, msgspec.Meta(ge=1)] = 3
    window_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    recheck_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0


class Admission(SubmissionGate):
    """The gate the task actors consult: the breakers first, then the streaming watermark
    (a job it holds must not claim slots), then the slot gate."""

    def __init__(
        self, breakers: Breakers, slots: SlotBudget, watermark: SubmissionGate | None = None
    ) -> None:
        self.breakers = breakers
        self.slots = slots
        self.watermark = watermark or SubmissionGate()

    async def submit_delay(
        self, state: JobState, wake: Callable[[], None] | None = None
    ) -> float | None:
        wait = await self.breakers.submit_delay(state, wake)
        if wait is not None:
            return wait
        wait = await self.watermark.submit_delay(state, wake)
        if wait is not None:
            return wait
        return await self.slots.admit(state, wake)

    def call_delay(self) -> float | None:
        return self.breakers.call_delay()

    async def plan(self, state: JobState) -> AttemptPlan:
        plan = await self.watermark.plan(state)
        if plan.wait is not None:
            # The watermark moved back after the slots admitted the job: it waits unclaimed
            # (and chooses its m again when it is admitted again).
            self.slots.observe(state)
            return plan
        chosen = self.slots.choice(state.job_id)
        return plan if chosen is None else msgspec.structs.replace(plan, sub_tasks=chosen)

    async def recheck(self, state: JobState) -> str | None:
        return await self.watermark.recheck(state)


class Breakers(SubmissionGate):
    """The Overlord breaker and the per-datasource breakers, persisted in the event log."""

    def __init__(
        self,
        event_log: EventLog,
        clock: Clock,
        *,
        policy: BreakerPolicy = BreakerPolicy(),
        datasource_policy: DatasourcePolicy = DatasourcePolicy(),
    ) -> None:
        self.log = event_log
        self.clock = clock
        self.policy = policy
        self.ds_policy = datasource_policy
        self.overlord = BreakerState()
        # What people are told about the Overlord (`overlord_health`): the last failed
        # call's cause and when, the last good call, since when the breaker is as it is.
        self.last_error: tuple[float, str] | None = None
        self.last_ok_at: float | None = None
        self.since: float | None = None
        self.paused: dict[str, str] = {}  # datasource -> reason
        self.structural: dict[str, list[float]] = {}
        self.transitions: list[tuple[str, str]] = []
        self._pending: set[asyncio.Task[Any]] = set()

    async def restore(self, warm: WarmStart | None = None) -> None:
        """Fold the breaker streams: an open breaker stays open across a restart.

        A breaker's state is its stream's last event: only that is read, or taken from a
        standby's `warm` cache when it is of the stream's current version.
        """
        for stream, version, _closed in await self.log.all_streams(BREAKER_PREFIX):
            name = breaker_of_stream(stream)
            last = warm.breaker(stream, version) if warm is not None else None
            if last is None:
                recorded = await last_event(self.log, stream, version)
                last = recorded.event if recorded is not None else None
            if name == OVERLORD:
                self.since = last.at if last is not None else None
                if isinstance(last, BreakerOpened):
                    self.last_error = (last.at, last.reason)
                    open_for = max(0.0, (last.until or last.at) - last.at)
                    self.overlord = BreakerState(phase="open", opened_at=last.at, open_for=open_for)
                elif isinstance(last, BreakerHalfOpened):
                    # The probe's outcome was never recorded: probe again.
                    self.overlord = BreakerState(phase="open", opened_at=last.at, open_for=0.0)
            elif name.startswith("datasource:") and isinstance(last, BreakerOpened):
                self.paused[name.removeprefix("datasource:")] = last.reason

    # --- the Overlord breaker ----------------------------------------------------------

    def allow_call(self) -> bool:
        allowed, state, transition = breaker_allows(self.overlord, self.clock(), self.policy)
        self.overlord = state
        self._persist(OVERLORD, transition, "probe")
        return allowed

    def record_call(self, ok: bool, reason: str = "") -> None:
        now = self.clock()
        if ok:
            self.last_ok_at = now
        else:
            self.last_error = (now, reason)
        state, transition = breaker_record(self.overlord, ok, now, self.policy)
        self.overlord = state
        self._persist(OVERLORD, transition, reason)

    @property
    def overlord_phase(self) -> str:
        return self.overlord.phase

    def overlord_health(self) -> dict[str, Any]:
        """The Overlord as people are told of it: the breaker's state and since when,
        whether the last call got through (None before any), the last failure's cause and
        time, and when the open breaker lets a probe through (epoch seconds)."""
        state = self.overlord
        failed_at, cause = self.last_error or (None, None)
        reachable = None
        if failed_at is not None or self.last_ok_at is not None:
            reachable = failed_at is None or (self.last_ok_at or 0.0) > failed_at
        return {
            "state": state.phase,
            "since": self.since,
            "reachable": reachable if state.phase == "closed" else False,
            "last_error": cause,
            "last_error_at": failed_at,
            "next_probe": state.opened_at + state.open_for if state.phase == "open" else None,
        }

    def _persist(self, name: str, transition: Transition, reason: str) -> None:
        if transition is None:
            return
        now = self.clock()
        self.since = now
        self.transitions.append((name, transition))
        event: Event
        if transition == "opened":
            event = BreakerOpened(
                at=now, breaker=name, reason=reason[:500], until=now + self.overlord.open_for
            )
            logger.warning(
                "breaker_opened",
                breaker=name,
                reason=reason[:200],
                open_for_s=self.overlord.open_for,
            )
        elif transition == "half_opened":
            event = BreakerHalfOpened(at=now, breaker=name)
            logger.info("breaker_half_opened", breaker=name)
        else:
            event = BreakerClosed(at=now, breaker=name, reason=reason or "probe succeeded")
            logger.info("breaker_closed", breaker=name)
        self._append(name, event)

    def _append(self, name: str, event: Event) -> None:
        # Recording must not make the guarded call wait: append in the background, in order
        # (the writer commits queued appends in the order they were queued).
        task = asyncio.get_running_loop().create_task(
            self.log.append(breaker_stream(name), [event], ANY_VERSION)
        )
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("breaker_persist_failed", error=repr(task.exception()))

    async def flush(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    # --- datasource breakers -----------------------------------------------------------

    def record_structural(self, datasource: str, reason: str) -> None:
        now = self.clock()
        window = [
            t for t in self.structural.get(datasource, []) if now - t < self.ds_policy.window_s
        ]
        window.append(now)
        self.structural[datasource] = window
        if datasource not in self.paused and len(window) >= self.ds_policy.structural_limit:
            text = (
                f"{len(window)} structural failures within {self.ds_policy.window_s:g}s; "
                f"last: {reason}"
            )
            self.paused[datasource] = text
            self.transitions.append((f"datasource:{datasource}", "opened"))
            logger.warning("datasource_paused", datasource=datasource, reason=text[:200])
            self._append(
                f"datasource:{datasource}",
                BreakerOpened(at=now, breaker=f"datasource:{datasource}", reason=text[:500]),
            )

    def resume(self, datasource: str, by: str = "user") -> bool:
        """Close a datasource breaker. False if it was not open."""
        if self.paused.pop(datasource, None) is None:
            return False
        self.structural.pop(datasource, None)
        self.transitions.append((f"datasource:{datasource}", "closed"))
        self._append(
            f"datasource:{datasource}",
            BreakerClosed(
                at=self.clock(), breaker=f"datasource:{datasource}", reason=f"resumed by {by}"
            ),
        )
        return True

    # --- the gate the task actors consult ----------------------------------------------

    async def submit_delay(
        self, state: JobState, wake: Callable[[], None] | None = None
    ) -> float | None:
        if state.datasource in self.paused:
            return self.ds_policy.recheck_s
        return self.call_delay()

    def call_delay(self) -> float | None:
        if self.overlord.phase == "closed":
            return None
        retry_at = breaker_retry_at(self.overlord)
        if retry_at is not None and retry_at <= self.clock():
            # Time for a probe. Only a call moves an open breaker on (`allow_call`), and with
            # no task to poll no other call may come: let this one be it (the guard lets one
            # through; the others see it half-open and wait).
            return None
        wait = (retry_at - self.clock()) if retry_at is not None else self.policy.open_s
        return max(0.5, wait)


_CALL_PREFIX = re.compile(r"^(?:[\w-]+: )?(?:(?:GET|POST|DELETE|PUT) \S+: )")


def plain_cause(text: str) -> str:
    """A failed call's cause without the endpoint it was sent to: `cannot connect to
    http://overlord:8081: ...` rather than `tasks: GET /druid/indexer/v1/tasks: cannot ...`."""
    return _CALL_PREFIX.sub("", text, count=1)


def _counts_as_failure(exc: OverlordError) -> bool:
    return exc.retryable and not isinstance(exc, BreakerOpenError)


class GuardedOverlord:
    """An Overlord client that consults and feeds the Overlord breaker on every call."""

    def __init__(self, inner: Overlord, breakers: Breakers) -> None:
        self.inner = inner
        self.breakers = breakers

    async def _guard(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.breakers.allow_call():
            raise BreakerOpenError(
                f"{name}: not sent, the Overlord circuit breaker is open", endpoint=name
            )
        try:
            result = await fn(*args, **kwargs)
        except OverlordError as exc:
            text = str(exc)  # the client's errors already start with the endpoint's name
            reason = text if text.startswith(f"{name}:") else f"{name}: {text}"
            self.breakers.record_call(not _counts_as_failure(exc), reason)
            raise
        self.breakers.record_call(True)
        return result

    async def submit(self, task: Mapping[str, Any] | msgspec.Raw) -> str:
        result: str = await self._guard("submit", self.inner.submit, task)
        return result

    async def status(self, task_id: str) -> TaskStatusPlus:
        result: TaskStatusPlus = await self._guard("status", self.inner.status, task_id)
        return result

    async def bulk_status(self, task_ids: Sequence[str]) -> dict[str, TaskStatus]:
        result: dict[str, TaskStatus] = await self._guard(
            "bulk_status", self.inner.bulk_status, task_ids
        )
        return result

    async def tasks(self, **kwargs: Any) -> list[TaskStatusPlus]:
        result: list[TaskStatusPlus] = await self._guard("tasks", self.inner.tasks, **kwargs)
        return result

    async def task_spec(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._guard("task_spec", self.inner.task_spec, task_id)
        return result

    async def reports(self, task_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._guard("reports", self.inner.reports, task_id)
        return result

    async def log(self, task_id: str, offset: int = 0) -> str | None:
        result: str | None = await self._guard("log", self.inner.log, task_id, offset)
        return result

    async def shutdown(self, task_id: str) -> None:
        await self._guard("shutdown", self.inner.shutdown, task_id)

    async def workers(self) -> list[WorkerInfo]:
        result: list[WorkerInfo] = await self._guard("workers", self.inner.workers)
        return result

    async def total_capacity(self) -> TotalWorkerCapacity:
        result: TotalWorkerCapacity = await self._guard("total_capacity", self.inner.total_capacity)
        return result

    # --- supervisors and coverage (the inner client must be a StreamingOverlord) ---------

    async def supervisor_states(self) -> list[SupervisorState]:
        inner: Any = self.inner
        result: list[SupervisorState] = await self._guard("supervisors", inner.supervisor_states)
        return result

    async def supervisor_status(self, supervisor_id: str) -> SupervisorStatus:
        inner: Any = self.inner
        result: SupervisorStatus = await self._guard(
            "supervisor_status", inner.supervisor_status, supervisor_id
        )
        return result

    async def supervisor_spec(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._guard(
            "supervisor_spec", inner.supervisor_spec, supervisor_id
        )
        return result

    async def create_supervisor(
        self, spec: Mapping[str, Any], *, skip_restart_if_unmodified: bool = False
    ) -> SupervisorCreated:
        inner: Any = self.inner
        result: SupervisorCreated = await self._guard(
            "supervisor_create",
            inner.create_supervisor,
            spec,
            skip_restart_if_unmodified=skip_restart_if_unmodified,
        )
        return result

    async def suspend_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._guard(
            "supervisor_suspend", inner.suspend_supervisor, supervisor_id
        )
        return result

    async def resume_supervisor(self, supervisor_id: str) -> dict[str, Any]:
        inner: Any = self.inner
        result: dict[str, Any] = await self._guard(
            "supervisor_resume", inner.resume_supervisor, supervisor_id
        )
        return result

    async def terminate_supervisor(self, supervisor_id: str) -> None:
        inner: Any = self.inner
        await self._guard("supervisor_terminate", inner.terminate_supervisor, supervisor_id)

    async def reset_supervisor(self, supervisor_id: str) -> None:
        inner: Any = self.inner
        await self._guard("supervisor_reset", inner.reset_supervisor, supervisor_id)

    async def datasource_coverage(self, datasource: str) -> DataSourceCoverage | None:
        inner: Any = self.inner
        result: DataSourceCoverage | None = await self._guard(
            "coverage", inner.datasource_coverage, datasource
        )
        return result
