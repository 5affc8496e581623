"""The supervisor: owns the task actors, restarts crashed ones, escalates repeat offenders.

A task actor that raises while handling a message crashes; the supervisor hears of it, records
`ActorCrashed` in the job's stream, and restarts the actor after a short delay. The new actor
folds the job's stream, so it resumes from what was recorded and never repeats an effect whose
outcome is already in the log (an intent without an outcome is checked with the Overlord
first). Restart intensity is OTP's: more than `max_restarts` crashes within `within_s` and the
job is marked dead with the crash as evidence, which raises an alert.

An actor that stopped because the log refused its write (`EventLogUnavailableError`: a full
disk, a read-only file) did not crash: nothing was recorded, so nothing was done (every effect
waits for its intent to be on disk), and the job is not at fault. It is restarted without a
crash being counted or recorded, later the longer the log has been refusing (0.5 s to 30 s),
and picks up where its stream left off once the log takes writes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from actors.errors import ActorStoppedError
from actors.job.actor import JobActor, JobContext
from actors.job.messages import Command, Escalate, RecordCrash
from actors.job.state import JobState
from actors.runtime import Actor, ActorRef, spawn
from actors.stream_names import job_of_stream, job_stream
from actors.supervision.policy import (
    GiveUp,
    RestartPolicy,
    StallPolicy,
    on_child_failure,
    stall_delay,
)
from eventlog.errors import (
    ConcurrencyConflictError,
    EventLogUnavailableError,
    WriterLostError,
)
from overlord.redaction import redact_text

logger = structlog.get_logger("druid_orch.supervisor")


@dataclass(slots=True)
class StartJob:
    job_id: str
    commands: list[Command] = field(default_factory=list)
    # The job's state as its stream holds it right now, from a caller that has just written
    # it: a new actor starts from it instead of reading the stream back.
    state: JobState | None = None


@dataclass(slots=True)
class ChildCrashed:
    job_id: str
    error: BaseException


@dataclass(slots=True)
class Tell:
    """Deliver a command to a job's actor, starting the actor if the job is live."""

    job_id: str
    command: Command


class Supervisor(Actor[StartJob | ChildCrashed | Tell]):
    mailbox_size = 100_000

    def __init__(self, ctx: JobContext, tg: asyncio.TaskGroup, policy: RestartPolicy) -> None:
        self.ctx = ctx
        self.tg = tg
        self.policy = policy
        self.stall_policy = StallPolicy()
        self.children: dict[str, ActorRef[Any]] = {}
        self.crashes: dict[str, tuple[float, ...]] = {}
        self.restarts = 0
        self.stalls = 0  # restarts of actors whose write the log refused
        self._spell: tuple[float, float] | None = None  # (the log's `since`, our monotonic)
        self.escalations = 0

    def forget_crashes(self, job_id: str) -> None:
        """A person retried the job: it starts again with a clean crash history."""
        self.crashes.pop(job_id, None)

    async def receive(self, message: StartJob | ChildCrashed | Tell) -> Any:
        if isinstance(message, StartJob):
            initial = list(message.commands)
            ref, fresh = await self._ensure(message.job_id, initial, message.state)
            if not fresh:
                for command in initial:
                    await ref.send(command)
            return ref
        if isinstance(message, Tell):
            ref, fresh = await self._ensure(message.job_id, [message.command])
            if not fresh:
                await ref.send(message.command)
            return ref
        await self._crashed(message.job_id, message.error)
        return None

    async def _ensure(
        self, job_id: str, initial: list[Command] | None = None, state: JobState | None = None
    ) -> tuple[ActorRef[Any], bool]:
        """The job's live actor, and whether it was just started (with `initial` queued)."""
        ref = self.children.get(job_id)
        if ref is not None and ref.alive:
            return ref, False
        actor = JobActor(job_id, self.ctx, initial or [], state=state)
        ref = await spawn(self.tg, actor, name=job_stream(job_id), on_crash=self._on_crash)
        self.children[job_id] = ref
        # A callback, not a watcher task: a task per live job would cost as much as the job.
        ref.when_done(lambda: self._forget(job_id, ref))
        return ref, True

    def _forget(self, job_id: str, ref: ActorRef[Any]) -> None:
        if self.children.get(job_id) is ref:
            del self.children[job_id]

    def _on_crash(self, ref: ActorRef[Any], error: BaseException) -> None:
        job_id = job_of_stream(ref.name)
        # While shutting down the supervisor is gone: the job resumes on the next start.
        with contextlib.suppress(ActorStoppedError):
            self.ref.tell(ChildCrashed(job_id, error))

    async def _crashed(self, job_id: str, error: BaseException) -> None:
        if isinstance(error, EventLogUnavailableError):
            self._stalled(job_id, error)
            return
        now = self.ctx.clock()
        crashes, decision = on_child_failure(self.crashes.get(job_id, ()), now, self.policy)
        self.crashes[job_id] = crashes
        text = redact_text(f"{type(error).__name__}: {error}")  # it goes into the log for good
        logger.error("actor_crashed", job_id=job_id, error=text, restarts=len(crashes))
        commands: list[Command] = [RecordCrash(at=now, error=text[:1000], restarts=len(crashes))]
        if isinstance(decision, GiveUp):
            self.escalations += 1
            commands.append(Escalate(at=now, reason=f"{decision.reason}; last: {text}"))
        try:
            for command in commands:
                await self._append(job_id, command)
        except EventLogUnavailableError as exc:
            # Neither the crash nor an escalation could be recorded: restart the job when the
            # log may take writes again. The crash history kept here still counts, so a job
            # that goes on crashing is escalated again then.
            logger.error("actor_crash_not_recorded", job_id=job_id, error=str(exc))
            self._stalled(job_id, exc)
            return
        if isinstance(decision, GiveUp):
            return
        self.restarts += 1
        asyncio.get_running_loop().call_later(decision.delay_s, self._restart, job_id)

    async def _append(self, job_id: str, command: Command) -> None:
        try:
            await self.ctx.streams.record(job_id, command)
        except (ConcurrencyConflictError, WriterLostError) as exc:
            # The job's stream kept moving under every try, or the writer kept dying: the
            # restart goes ahead, and the next crash is recorded afresh.
            logger.warning("crash_not_recorded", job_id=job_id, error=str(exc))

    def _stalled(self, job_id: str, error: EventLogUnavailableError) -> None:
        """Restart a job whose write the log refused, later the longer it has refused."""
        refused = self.ctx.log.writes_refused
        age = 0.0
        if refused is not None:
            if self._spell is None or self._spell[0] != refused.since:
                self._spell = (refused.since, time.monotonic())
            age = time.monotonic() - self._spell[1]
        delay = stall_delay(age, self.stall_policy, self.ctx.rng)
        self.stalls += 1
        logger.debug("job_waits_for_event_log", job_id=job_id, error=str(error), retry_in_s=delay)
        asyncio.get_running_loop().call_later(delay, self._restart, job_id)

    def _restart(self, job_id: str) -> None:
        if self.ref.alive:
            with contextlib.suppress(Exception):
                self.ref.tell(StartJob(job_id))

    async def on_stop(self) -> None:
        for ref in list(self.children.values()):
            ref.stop()
        for ref in list(self.children.values()):
            await ref.join()
