"""The supervisor actor: a thin shell around the supervisor FSM, as `JobActor` is for jobs.

Receive a command, record what it decides through `SupervisorStreams.record` (write-ahead:
every call follows its intent on disk), then carry out `next_effect` and feed the outcome
back in, until the state asks to wait. All I/O is here; every decision is in
`actors.streams.fsm`. The health watcher (`actors.streams.health`) feeds it `RecordState`;
the actor reads each unhealthy report with the supervisor rules and alerts on a structural
one, once per spell.

A reset whose answer never came (a transport error, a timeout) may have moved the offsets:
it is never sent again. The actor treats the intent as an earlier run's, so the FSM asks a
person (`AskPerson`), exactly as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import structlog

from actors.errors import BreakerOpenError
from actors.ports import Clock, StreamingOverlord
from actors.runtime import Actor
from actors.stream_names import supervisor_stream
from actors.streams.fsm import next_effect
from actors.streams.messages import (
    AskPerson,
    Command,
    Effect,
    Finish,
    PostSpec,
    RecordActionFailed,
    RecordApplied,
    RecordApplyRefused,
    RecordHealth,
    RecordHeld,
    RecordReset,
    RecordResumed,
    RecordState,
    RecordSuspended,
    RecordTerminated,
    ResetSupervisor,
    ResumeSupervisor,
    SuspendSupervisor,
    TerminateSupervisor,
)
from actors.streams.state import SupervisorState
from actors.streams.stream import SupervisorStreams
from actors.streams.task_failures import latest_task_failure
from actors.supervision.alerts import Alert, AlertSink, LogAlertSink
from actors.supervision.classification import RuleSet
from actors.supervision.policy import RetryPolicy, retry_delay
from actors.supervision.stream_rules import StreamEvidence, StreamRuleSet, classify_stream
from eventlog.events import spec_dict
from overlord.errors import OverlordError, OverlordRejectedError, SupervisorNotFoundError
from overlord.urls import scrub_urls
from specs.identity import spec_hash

logger = structlog.get_logger("druid_orch.streams")

__all__ = ["GetState", "SupervisorActor", "SupervisorContext", "holds"]


@dataclass(slots=True)
class SupervisorContext:
    """What every supervisor actor shares: injected so tests can replace any of it."""

    streams: SupervisorStreams
    overlord: StreamingOverlord
    rules: StreamRuleSet = field(default_factory=StreamRuleSet)
    # The failure rules of batch tasks, to read why a supervisor's streaming tasks fail.
    task_rules: RuleSet | None = None
    alerts: AlertSink = field(default_factory=LogAlertSink)
    retry: RetryPolicy = RetryPolicy(base_s=1.0, cap_s=60.0)
    clock: Clock = field(default=lambda: 0.0)
    rng: random.Random = field(default_factory=random.Random)


class _Drive(msgspec.Struct, frozen=True):
    """Internal: re-run `next_effect` (after a timer)."""


class GetState(msgspec.Struct, frozen=True):
    """Ask: the actor's current SupervisorState."""


# The effects that call the Overlord, held back while a backoff runs.
_CALLS = (PostSpec, SuspendSupervisor, ResumeSupervisor, TerminateSupervisor, ResetSupervisor)


class SupervisorActor(Actor[Command | _Drive | GetState]):
    mailbox_size = 64

    def __init__(
        self, supervisor_id: str, ctx: SupervisorContext, initial: Sequence[Command] = ()
    ) -> None:
        """
        Args:
            initial: commands to handle first (a person's apply, the boot reconciliation).
        """
        self.supervisor_id = supervisor_id
        self.ctx = ctx
        self._initial = list(initial)
        self.state = SupervisorState()
        self.logger = logger.bind(supervisor_id=supervisor_id)
        # The stream version read back at start: an intent at or below it, or one whose
        # call's answer was lost, may have happened (`next_effect(replayed_through=...)`).
        self._uncertain_through = 0
        self._timer: asyncio.TimerHandle | None = None
        self._failures = 0
        # Loop time before which a deferred call is not tried again, whatever message comes.
        self._backoff_until = 0.0
        self._asked_person = False

    async def on_start(self) -> None:
        self.state = await self.ctx.streams.load(self.supervisor_id)
        self._uncertain_through = self.state.version
        for command in self._initial:
            self.ref.tell(command)
        self.ref.tell(_Drive())

    async def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def receive(self, message: Command | _Drive | GetState) -> Any:
        if isinstance(message, GetState):
            return self.state
        if isinstance(message, Command):
            await self._handle(message)
            if isinstance(message, RecordState):
                await self._read_health(message)
        await self._run_effects()
        return self.state

    async def _handle(self, command: Command) -> bool:
        # One try: a conflict means another writer changed the stream under this actor,
        # which then crashes and is restarted from what the stream holds.
        recorded = await self.ctx.streams.record(
            self.supervisor_id, command, state=self.state, tries=1
        )
        if not recorded.events:
            return False
        self.state = recorded.state
        for event in recorded.events:
            self.logger.info(
                type(event).__struct_config__.tag,
                desired=self.state.desired,
                pending=self.state.pending,
            )
        return True

    async def _run_effects(self) -> None:
        while True:
            effect = next_effect(self.state, replayed_through=self._uncertain_through)
            command = await self._perform(effect) if effect is not None else None
            if command is None or not await self._handle(command):
                return

    # --- effects -------------------------------------------------------------------------

    async def _perform(self, effect: Effect) -> Command | None:
        sid = self.supervisor_id
        overlord = self.ctx.overlord
        backing_off = asyncio.get_running_loop().time() < self._backoff_until
        if backing_off and isinstance(effect, _CALLS):
            return None  # the backoff's timer drives the actor again
        match effect:
            case Finish():
                # Terminated: nothing to do until a new apply re-creates it. The actor stays,
                # so that apply finds it (there are few supervisors, and none is polled).
                return None
            case PostSpec():
                return await self._post(effect)
            case SuspendSupervisor():
                return await self._toggle("suspend", overlord.suspend_supervisor(sid))
            case ResumeSupervisor():
                return await self._toggle("resume", overlord.resume_supervisor(sid))
            case TerminateSupervisor():
                return await self._terminate()
            case ResetSupervisor():
                return await self._reset(effect)
            case AskPerson(question=question):
                self._ask_person(question)
                return None
        return None  # Watch: the health watcher polls every managed supervisor in bulk

    async def _post(self, effect: PostSpec) -> Command | None:
        at = self.ctx.clock
        ours = spec_dict(effect.spec)
        if effect.compare_first:
            try:
                held: dict[str, Any] | None = await self.ctx.overlord.supervisor_spec(
                    effect.supervisor_id
                )
            except SupervisorNotFoundError:
                held = None
            except OverlordError as exc:
                return self._later_after("supervisor_spec", exc)
            if held is not None and holds(held, ours):
                return RecordHeld(at=at(), spec_hash=effect.spec_hash)
            # Someone else's spec, or none: recorded, then ours goes out.
            found = None if held is None else spec_hash(held)
            await self._handle(RecordHeld(at=at(), spec_hash=found))
        try:
            created = await self.ctx.overlord.create_supervisor(
                ours, skip_restart_if_unmodified=True
            )
        except OverlordRejectedError as exc:
            return RecordApplyRefused(
                at=at(),
                spec_hash=effect.spec_hash,
                http_status=exc.status or 400,
                message=_message(exc),
            )
        except OverlordError as exc:
            # Landed or not, the retry POSTs the same spec with skipRestartIfUnmodified.
            return self._later_after("supervisor_create", exc)
        self._failures = 0
        return RecordApplied(at=at(), spec_hash=effect.spec_hash, modified=created.modified)

    async def _toggle(self, action: Literal["suspend", "resume"], call: Any) -> Command | None:
        at = self.ctx.clock
        try:
            await call
        except OverlordRejectedError as exc:
            text = _message(exc)
            if exc.status == 400 and "already" in text:
                pass  # "already suspended" / "already running": what we asked for holds
            else:
                return RecordActionFailed(
                    at=at(), action=action, message=text, http_status=exc.status
                )
        except OverlordError as exc:
            return self._later_after(f"supervisor_{action}", exc)
        self._failures = 0
        return RecordSuspended(at=at()) if action == "suspend" else RecordResumed(at=at())

    async def _terminate(self) -> Command | None:
        at = self.ctx.clock
        try:
            await self.ctx.overlord.terminate_supervisor(self.supervisor_id)
        except SupervisorNotFoundError:
            pass  # gone already: what we asked for holds
        except OverlordRejectedError as exc:
            return RecordActionFailed(
                at=at(), action="terminate", message=_message(exc), http_status=exc.status
            )
        except OverlordError as exc:
            return self._later_after("supervisor_terminate", exc)
        self._failures = 0
        return RecordTerminated(at=at())

    async def _reset(self, effect: ResetSupervisor) -> Command | None:
        at = self.ctx.clock
        try:
            await self.ctx.overlord.reset_supervisor(self.supervisor_id)
        except BreakerOpenError as exc:
            return self._later_after("supervisor_reset", exc)  # not sent: safe to send later
        except OverlordRejectedError as exc:
            return RecordActionFailed(
                at=at(), action="reset", message=_message(exc), http_status=exc.status
            )
        except OverlordError as exc:
            # The reset may have reached the Overlord: sending it again could move the
            # offsets twice. From now on the intent counts as an earlier run's.
            self._uncertain_through = self.state.version
            self.logger.error(
                "supervisor_reset_outcome_unknown",
                error=scrub_urls(str(exc))[:500],
                by=effect.by,
                reason=effect.reason,
            )
            self._ask_person("the reset call got no answer and may have happened")
            return None
        self._failures = 0
        return RecordReset(at=at())

    def _ask_person(self, question: str) -> None:
        if self._asked_person:
            return
        self._asked_person = True
        text = (
            f"supervisor {self.supervisor_id}: {question}; answer with `druid-orch supervisor "
            f"reset-answer {self.supervisor_id} --happened` or `--did-not-happen`"
        )
        self.logger.error("supervisor_asks_person", question=question)
        self._alert("structural", "reset-unknown", text)

    # --- health --------------------------------------------------------------------------

    async def _read_health(self, report: RecordState) -> None:
        state = self.state
        if state.healthy is not False or state.observed_at is None or state.terminated:
            return
        now = self.ctx.clock()
        evidence = StreamEvidence(
            state=state.observed or report.state,
            detailed_state=state.detailed_state,
            recent_errors=report.recent_errors,
            unhealthy_for_s=max(0.0, now - state.observed_at),
        )
        decision = classify_stream(evidence, self.ctx.rules)
        rule, reason = await self._task_cause(evidence.state, decision.rule, decision.reason)
        was = state.health
        command = RecordHealth(
            at=now, classification=decision.classification, rule=rule, reason=reason
        )
        recorded = await self._handle(command)
        # Once per spell: a structural reading after a structural one changes only its rule.
        if recorded and decision.classification == "structural" and was != "structural":
            self._alert("structural", rule, reason)

    async def _task_cause(self, observed: str, rule: str, reason: str) -> tuple[str, str]:
        """For UNHEALTHY_TASKS, the rule and reason with the newest failed task's cause added
        (`tasks-failing:parse-errors`), read once per spell."""
        rules = self.ctx.task_rules
        if observed != "UNHEALTHY_TASKS" or rules is None:
            return rule, reason
        known = self.state.health_rule or ""
        if known.startswith(f"{rule}:"):
            return known, self.state.health_reason or reason
        failure = await latest_task_failure(
            self.ctx.overlord, self.supervisor_id, self.state.datasource, rules
        )
        if failure is None:
            return rule, reason
        cause = failure.decision
        return (
            f"{rule}:{cause.rule}",
            f"{reason}; the newest failed task {failure.task_id}: {cause.classification} "
            f"({cause.rule}): {cause.reason}",
        )

    def _alert(self, classification: str, rule: str, reason: str) -> None:
        self.ctx.alerts.raise_alert(
            Alert(
                job_id=supervisor_stream(self.supervisor_id),
                datasource=self.state.datasource,
                interval="",
                task_id=None,
                classification=classification,
                rule=rule,
                reason=reason,
                report_excerpt={"recent_errors": list(self.state.recent_errors)},
                at=self.ctx.clock(),
            )
        )

    # --- timers --------------------------------------------------------------------------

    def _later_after(self, call: str, exc: OverlordError) -> Command | None:
        """The call did not go through (breaker open, Overlord unreachable): try again after
        a backoff that grows with each failure in a row."""
        self._failures += 1
        delay = retry_delay(self._failures, self.ctx.retry, self.ctx.rng)
        loop = asyncio.get_running_loop()
        self._backoff_until = loop.time() + delay
        self.logger.warning(
            "supervisor_call_deferred",
            call=call,
            error=scrub_urls(str(exc))[:300],
            retry_in_s=round(delay, 2),
        )
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._drive)
        return None

    def _drive(self) -> None:
        self._backoff_until = 0.0  # the backoff is over: its call may go out again
        if self.ref.alive:
            with contextlib.suppress(Exception):  # a full mailbox re-drives the actor anyway
                self.ref.tell(_Drive())


def holds(held: Mapping[str, Any], ours: Mapping[str, Any]) -> bool:
    """Whether the spec the Overlord holds is ours.

    The Overlord answers with every default filled in, and with the nested `spec` repeated
    flat at the top level: it holds our spec when every key and value of ours is present
    and equal in what it holds (dictionaries compared as subsets, at every level). Keys
    only it has are its defaults, or the flat duplicates; `suspended` is left out.
    """
    # Whether it runs is the FSM's `desired`, changed by our own suspend and resume calls,
    # which Druid writes into the stored spec: not a difference of spec.
    return _within({k: v for k, v in ours.items() if k != "suspended"}, held)


def _within(ours: Any, held: Any) -> bool:
    if isinstance(ours, Mapping):
        if not ours and held is None:
            return True  # an empty object of ours; Druid may store null
        if not isinstance(held, Mapping):
            return False
        return all(key in held and _within(value, held[key]) for key, value in ours.items())
    if isinstance(ours, list):
        if not isinstance(held, list) or len(ours) != len(held):
            return not ours and held is None
        return all(_within(a, b) for a, b in zip(ours, held, strict=True))
    return bool(ours == held)


def _message(exc: OverlordError) -> str:
    return scrub_urls(exc.druid_message or str(exc))[:1000]
