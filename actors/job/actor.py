"""The task actor: a thin shell around the job FSM.

Receive a command, record what it decides (write-ahead, `actors.job.stream`), then carry out
`next_effect` and feed its outcome back in as the next command, until the state asks to wait
for a message (a status change from the poller, a timer, a cancel). All I/O happens here;
every decision happens in `actors.job.fsm`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import structlog

from actors.errors import BreakerOpenError
from actors.job.evidence import gather_evidence
from actors.job.fsm import next_effect, phase_deadline
from actors.job.messages import (
    AnalyseFailure,
    BeginAttempt,
    CheckDeadlines,
    Command,
    Effect,
    Finish,
    RecordAlreadyExists,
    RecordAnalysis,
    RecordShutdown,
    RecordSubmitRefused,
    RecordSubmitted,
    RecordSubmitUnknown,
    ShutdownTask,
    StartAttempt,
    SubmitTask,
    WatchTask,
)
from actors.job.state import FailureSource, JobState
from actors.job.stream import JobStreams, attempt_body
from actors.poller import Unwatch, Watch
from actors.ports import Clock, Overlord
from actors.runtime import Actor, ActorRef
from actors.supervision.classification import FailureEvidence, RuleSet, classify, report_excerpt
from actors.supervision.policy import RetryPolicy, retry_delay
from eventlog import EventLog
from eventlog.events import SubTasksRecord, WatermarkRecord
from overlord.errors import (
    OverlordError,
    OverlordRejectedError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)
from overlord.redaction import redact, redact_text

logger = structlog.get_logger("druid_orch.task")


class Deadlines(msgspec.Struct, frozen=True, kw_only=True):
    """Longest time a task may spend in each Druid phase (None: no limit)."""

    waiting_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    pending_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    running_s: Annotated[float, msgspec.Meta(gt=0)] | None = None


class JobPolicy(msgspec.Struct, frozen=True, kw_only=True):
    retry: RetryPolicy = RetryPolicy()
    submit_retry: RetryPolicy = RetryPolicy(base_s=1.0, cap_s=30.0)
    deadlines: Deadlines = Deadlines()
    report_attempts: Annotated[int, msgspec.Meta(ge=1)] = 3
    report_retry_s: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    # 0 would write a snapshot after every event.
    snapshot_every: Annotated[int, msgspec.Meta(ge=1)] = 64
    # Failures of rules with `count_attempt = false` spared per job; past this they count, so
    # a task that keeps taking its worker down with it still comes to an end.
    max_uncounted_failures: Annotated[int, msgspec.Meta(ge=0)] = 10


class AttemptPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate decided for a new attempt: wait `wait` seconds and ask again, or go with
    `interval` (None: the job's own) and the `watermark` it was decided against, running
    `sub_tasks.m` sub-tasks at once (None: as its spec says)."""

    wait: float | None = None
    interval: str | None = None
    watermark: WatermarkRecord | None = None
    sub_tasks: SubTasksRecord | None = None


class SubmissionGate:
    """Says whether a submission may go out now; the supervisor's breakers implement it."""

    async def submit_delay(
        self, state: JobState, wake: Callable[[], None] | None = None
    ) -> float | None:
        """None to go ahead, or seconds to wait before asking again (`wake`, if given, may
        be called sooner, when what held the job back has changed)."""
        return None

    def call_delay(self) -> float | None:
        """As `submit_delay`, for any other call that changes something (a shutdown)."""
        return None

    async def plan(self, state: JobState) -> AttemptPlan:
        """What a new attempt, admitted by `submit_delay`, ingests (asked just before its
        intent is recorded)."""
        return AttemptPlan()

    async def recheck(self, state: JobState) -> str | None:
        """Why the recorded attempt must not be POSTed now (None: it may), asked just
        before each POST."""
        return None


@dataclass(slots=True)
class JobContext:
    """What every task actor shares: injected so tests can replace any of it."""

    log: EventLog
    streams: JobStreams
    overlord: Overlord
    poller: ActorRef[Any]
    rules: RuleSet
    policy: JobPolicy = JobPolicy()
    clock: Clock = field(default=lambda: 0.0)
    rng: random.Random = field(default_factory=random.Random)
    gate: SubmissionGate = field(default_factory=SubmissionGate)


class _Drive(msgspec.Struct, frozen=True):
    """Internal: re-run `next_effect` (after a timer)."""


class GetState(msgspec.Struct, frozen=True):
    """Ask: the actor's current JobState."""


class JobActor(Actor[Command | _Drive | GetState]):
    mailbox_size = 64

    def __init__(
        self,
        job_id: str,
        ctx: JobContext,
        initial: Sequence[Command] = (),
        *,
        state: JobState | None = None,
    ) -> None:
        """
        Args:
            initial: commands to handle first (from reconciliation).
            state: the job's state as its stream holds it now, if the caller has just
                written it (a new job): spares reading the stream back.
        """
        self.job_id = job_id
        self._initial = list(initial)
        self._known = state
        self.ctx = ctx
        self.state = JobState()
        self.logger = logger.bind(job_id=job_id)
        self._timer: asyncio.TimerHandle | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._watching: str | None = None
        self._loaded_version = 0
        self._since_snapshot = 0
        self._deferrals = 0

    async def on_start(self) -> None:
        known, self._known = self._known, None
        self.state = known if known is not None else await self.ctx.streams.load(self.job_id)
        self._loaded_version = self.state.version
        # Commands from reconciliation go first, so the actor acts on what the Overlord said.
        for command in self._initial:
            self.ref.tell(command)
        self.ref.tell(_Drive())

    async def on_stop(self) -> None:
        self._cancel_timers()
        if self._watching is not None:
            # The poller may be gone already during shutdown.
            with contextlib.suppress(Exception):
                self.ctx.poller.tell(Unwatch(self._watching))

    async def receive(self, message: Command | _Drive | GetState) -> Any:
        if isinstance(message, GetState):
            return self.state
        if isinstance(message, Command):
            await self._handle(message)
        await self._run_effects()
        return self.state

    async def _handle(self, command: Command) -> bool:
        # One try: a conflict means another writer changed the stream under this actor,
        # which then crashes and is restarted from what the stream holds.
        recorded = await self.ctx.streams.record(self.job_id, command, state=self.state, tries=1)
        if not recorded.events:
            return False
        new = self.state = recorded.state
        self._since_snapshot += len(recorded.events)
        if self.tid is not None:
            self.logger = logger.bind(job_id=self.job_id, task_id=self.tid)
        for event in recorded.events:
            self.logger.info(type(event).__struct_config__.tag, phase=new.phase)
        self._arm_deadline()
        if self._since_snapshot >= self.ctx.policy.snapshot_every and not new.terminal:
            self._since_snapshot = 0
            await self.ctx.streams.save_snapshot(new)
        return True

    @property
    def tid(self) -> str | None:
        return self.state.task_id

    async def _run_effects(self) -> None:
        while True:
            recovered = self.state.version == self._loaded_version
            effect = next_effect(self.state, recovered=recovered)
            command = await self._perform(effect) if effect is not None else None
            if command is None or not await self._handle(command):
                return

    # --- effects -----------------------------------------------------------------------

    async def _perform(self, effect: Effect) -> Command | None:
        now = self.ctx.clock()
        match effect:
            case Finish():
                self._cancel_timers()
                self.ref.stop()
                return None
            case StartAttempt(not_before=nb):
                if not await self._may_submit(nb, now):
                    return None
                plan = await self.ctx.gate.plan(self.state)
                if plan.wait is not None:
                    self._later(plan.wait)
                    return None
                return BeginAttempt(
                    at=self.ctx.clock(),
                    interval=plan.interval,
                    watermark=plan.watermark,
                    sub_tasks=plan.sub_tasks,
                )
            case SubmitTask(task_id=tid, not_before=nb, confirm_first=confirm):
                if not await self._may_submit(nb, now):
                    return None
                return await self._submit(tid, confirm)
            case WatchTask(task_id=tid):
                if self._watching != tid:
                    self._watching = tid
                    await self.ctx.poller.send(Watch(tid, self.ref))
                return None
            case AnalyseFailure(task_id=tid, source=source):
                return await self._analyse(tid, source)
            case ShutdownTask(task_id=tid):
                # Not sent while the breaker is open: a refusal would count as a failed call
                # and grow the backoff, putting the shutdown off long after the Overlord is back.
                wait = self.ctx.gate.call_delay()
                if wait is not None:
                    self._later(wait)
                    return None
                return await self._shutdown(tid)
        return None

    async def _may_submit(self, not_before: float | None, now: float) -> bool:
        """Whether a submission may go out now: its backoff is over and the gate (breakers,
        paused datasources, slots) lets it. If not, a timer drives the actor again later."""
        if not_before is not None and not_before > now:
            self._later(not_before - now)
            return False
        wait = await self.ctx.gate.submit_delay(self.state, self._wake)
        if wait is not None:
            self._later(wait)
            return False
        return True

    async def _submit(self, task_id: str, confirm_first: bool) -> Command | None:
        overlord = self.ctx.overlord
        at = self.ctx.clock
        if confirm_first:
            try:
                st = await overlord.status(task_id)
            except TaskNotFoundError:
                st = None  # it never landed: POST it (same id, so a racing copy is refused)
            except OverlordError as exc:
                return self._deferred(task_id, exc)
            if st is not None:
                return RecordAlreadyExists(at=at(), task_id=task_id, status=st.status_code)
        # The streaming watermark may have moved back since the intent (a new task with an
        # older bound): then this attempt's interval is not sent until it is safe again.
        unsafe = await self.ctx.gate.recheck(self.state)
        if unsafe is not None:
            return self._deferred(task_id, unsafe)
        try:
            await overlord.submit(attempt_body(self.state))
        except TaskAlreadyExistsError:
            try:
                st = await overlord.status(task_id)
            except OverlordError as exc:
                return self._deferred(task_id, exc)
            return RecordAlreadyExists(at=at(), task_id=task_id, status=st.status_code)
        except OverlordRejectedError as exc:
            return RecordSubmitRefused(
                at=at(),
                task_id=task_id,
                http_status=exc.status or 400,
                error_code=exc.error_code,
                message=redact_text(exc.druid_message or str(exc)),
            )
        except OverlordError as exc:
            return self._deferred(task_id, exc)
        self._deferrals = 0
        return RecordSubmitted(at=at(), task_id=task_id)

    def _deferred(self, task_id: str, exc: OverlordError | str) -> RecordSubmitUnknown:
        self._deferrals += 1
        delay = retry_delay(self._deferrals, self.ctx.policy.submit_retry, self.ctx.rng)
        return RecordSubmitUnknown(
            at=self.ctx.clock(),
            task_id=task_id,
            error=redact_text(str(exc))[:500],
            retry_after_s=delay,
        )

    async def _analyse(self, task_id: str | None, source: FailureSource) -> Command | None:
        state = self.state
        if task_id is None:
            return None
        evidence = FailureEvidence(
            source=source,
            error_msg=state.last_error,
            http_status=state.failure_http_status,
            error_code=state.failure_error_code,
            deadline=state.deadline_exceeded is not None,
        )
        if source == "status":
            evidence = await gather_evidence(
                self.ctx.overlord, self.job_id, task_id, evidence, self.ctx.policy
            )
        decision = classify(evidence, self.ctx.rules)
        return RecordAnalysis(
            at=self.ctx.clock(),
            task_id=task_id,
            classification=decision.classification,
            rule=decision.rule,
            reason=decision.reason,
            # Recorded for good: Druid's reports and logs quote URIs and rows, so redacted.
            report_excerpt=redact(report_excerpt(evidence)),
            evidence_source=source,
            retry_delay_s=retry_delay(state.attempt, self.ctx.policy.retry, self.ctx.rng),
            count_attempt=decision.count_attempt,
            max_uncounted=self.ctx.policy.max_uncounted_failures,
        )

    async def _shutdown(self, task_id: str) -> Command | None:
        try:
            await self.ctx.overlord.shutdown(task_id)
        except TaskNotFoundError:
            return RecordShutdown(at=self.ctx.clock(), task_id=task_id, http_status=404)
        except BreakerOpenError:
            self._later(self.ctx.gate.call_delay() or 0.5)  # another call is the probe
            return None
        except OverlordError as exc:
            self._deferrals += 1
            delay = retry_delay(self._deferrals, self.ctx.policy.submit_retry, self.ctx.rng)
            self.logger.warning("shutdown_failed", error=str(exc), retry_in_s=round(delay, 2))
            self._later(delay)
            return None
        return RecordShutdown(at=self.ctx.clock(), task_id=task_id, http_status=200)

    # --- timers ------------------------------------------------------------------------

    def _later(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._tell, _Drive())

    def _wake(self) -> None:
        self._tell(_Drive())

    def _tell(self, message: Any) -> None:
        if self.ref.alive:
            # A full mailbox is fine: the next message re-drives the actor anyway.
            with contextlib.suppress(Exception):
                self.ref.tell(message)

    def _arm_deadline(self) -> None:
        deadlines = self.ctx.policy.deadlines
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        state = self.state
        limit = phase_deadline(state.phase, deadlines)
        if limit is None or state.phase_since is None:
            return
        delay = state.phase_since + limit - self.ctx.clock() + 0.01
        check = CheckDeadlines(
            at=0.0,
            waiting_s=deadlines.waiting_s,
            pending_s=deadlines.pending_s,
            running_s=deadlines.running_s,
        )
        self._deadline_timer = asyncio.get_running_loop().call_later(
            max(0.0, delay), lambda: self._tell(msgspec.structs.replace(check, at=self.ctx.clock()))
        )

    def _cancel_timers(self) -> None:
        for timer in (self._timer, self._deadline_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._deadline_timer = None
