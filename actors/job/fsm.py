"""The job finite-state machine, as pure functions (decider style).

Theory of operation
-------------------
A job's behaviour is three pure functions with no I/O, no clock and no randomness (time and
random delays come in on the commands):

* `decide(state, command) -> list[Event]`: what the command means, given the state;
* `evolve(state, event) -> state`: how a recorded event changes the state;
* `next_effect(state) -> Effect | None`: what the new state asks the actor to do.

The actor loop is: receive a command, `decide`, append the events to the log (write-ahead),
`evolve`, then carry out `next_effect`. Replay is `fold(evolve, initial, events)`, the same code
as live operation, and because effects derive from state, a replayed job resumes by itself: an
intent without its outcome (`submitting`) asks for the submission again, which the actor
resolves by asking the Overlord first.

Phases (`a | b -> c` is an edge from each of a, b to c; the edges are `ALLOWED_TRANSITIONS`):

    new -> accepted -> submitting -> submitted
    accepted -> cancelled | dead
    submitting -> failed | cancelling | dead
    submitted | waiting | pending | running -> waiting | pending | running
    submitted | waiting | pending | running -> succeeded | failed | cancelling | dead
    failed -> retry_wait -> submitting                  (transient, attempts left)
    failed | retry_wait -> cancelled | dead
    cancelling -> cancelled | succeeded | dead
    dead -> retry_wait | submitting                     (a person's retry; its task may live)
    cancelled -> retry_wait                             (a person's retry)

succeeded, cancelled and dead are terminal.

Terminal phases absorb everything but a person's retry of a dead or cancelled job: `decide`
returns no other events for them, and `evolve` refuses any other event after them (a
tampered or buggy log). A retry starts a fresh set of `max_attempts`; a job that died while
its task may still have been live first looks that task up under its own id.

At most one Druid task is live per job: a new attempt's intent is only possible from
`retry_wait`, which is only reached after the previous task was seen FAILED, lost or
rejected, or by a retry of a job whose task was seen to end.
"""

from __future__ import annotations

from typing import Protocol

from actors.job.evolve import evolve, fold
from actors.job.messages import (
    Accept,
    Adopt,
    AnalyseFailure,
    BeginAttempt,
    Cancel,
    CheckDeadlines,
    Command,
    Effect,
    Escalate,
    Finish,
    RecordAlreadyExists,
    RecordAnalysis,
    RecordCrash,
    RecordLost,
    RecordShutdown,
    RecordStatus,
    RecordSubmitRefused,
    RecordSubmitted,
    RecordSubmitUnknown,
    Retry,
    ShutdownTask,
    StartAttempt,
    SubmitTask,
    WatchTask,
)
from actors.job.state import (
    ALLOWED_TRANSITIONS,
    DRUID_LIVE,
    RETRYABLE,
    RUNNER_PHASES,
    SHUTDOWN_BY_USER,
    STATE_SCHEMA_VERSION,
    TERMINAL,
    JobState,
    Phase,
)
from eventlog.events import (
    ActorCrashed,
    CancelRequested,
    FailureClassified,
    JobAccepted,
    JobCancelled,
    JobDied,
    JobEvent,
    JobRetried,
    PhaseDeadlineExceeded,
    RetryScheduled,
    ShutdownConfirmed,
    ShutdownIntended,
    StatusObserved,
    SubmitDeferred,
    SubmitIntended,
    SubmitRejected,
    Submitted,
    TaskFailed,
    TaskSucceeded,
)
from specs.compiler import task_id_for

# The FSM's public face: its functions, and (re-exported) the state and message types.
__all__ = [
    "ALLOWED_TRANSITIONS",
    "DRUID_LIVE",
    "RUNNER_PHASES",
    "SHUTDOWN_BY_USER",
    "STATE_SCHEMA_VERSION",
    "TERMINAL",
    "Accept",
    "Adopt",
    "AnalyseFailure",
    "BeginAttempt",
    "Cancel",
    "CheckDeadlines",
    "Command",
    "Effect",
    "Escalate",
    "Finish",
    "JobState",
    "Phase",
    "PhaseLimits",
    "RecordAlreadyExists",
    "RecordAnalysis",
    "RecordCrash",
    "RecordLost",
    "RecordShutdown",
    "RecordStatus",
    "RecordSubmitRefused",
    "RecordSubmitUnknown",
    "RecordSubmitted",
    "Retry",
    "ShutdownTask",
    "StartAttempt",
    "SubmitTask",
    "WatchTask",
    "decide",
    "evolve",
    "failure_counts",
    "fold",
    "next_effect",
    "phase_deadline",
]


# --- decide ------------------------------------------------------------------------------


def decide(state: JobState, command: Command) -> list[JobEvent]:
    """The events that `command` causes in `state` (possibly none)."""
    at = command.at
    if isinstance(command, Retry):
        if state.phase not in RETRYABLE:
            return []
        return [JobRetried(at=at, reason=command.reason, by=command.by)]
    if state.terminal:
        return []
    match command:
        case Accept():
            if state.phase != "new":
                return []
            return [
                JobAccepted(
                    at=at,
                    job_id=command.job_id,
                    datasource=command.datasource,
                    interval=command.interval,
                    spec=command.spec,
                    spec_hash=command.spec_hash,
                    max_attempts=command.max_attempts,
                    pipeline=command.pipeline,
                )
            ]
        case BeginAttempt():
            if state.phase == "accepted" or (
                state.phase == "retry_wait"
                and (state.retry_not_before is None or at >= state.retry_not_before)
            ):
                attempt = state.attempt + 1
                return [
                    SubmitIntended(
                        at=at, attempt=attempt, task_id=task_id_for(state.job_id, attempt)
                    )
                ]
            return []
        case RecordSubmitted(task_id=tid) if state.phase == "submitting" and tid == state.task_id:
            return [Submitted(at=at, attempt=state.attempt, task_id=tid)]
        case RecordAlreadyExists(task_id=tid) if (
            state.phase == "submitting" and tid == state.task_id
        ):
            return [
                Submitted(
                    at=at,
                    attempt=state.attempt,
                    task_id=tid,
                    adopted=True,
                    evidence=f"duplicate id; Overlord status {command.status}",
                )
            ]
        case RecordSubmitUnknown(task_id=tid) if (
            state.phase == "submitting" and tid == state.task_id
        ):
            return [
                SubmitDeferred(
                    at=at,
                    attempt=state.attempt,
                    task_id=tid,
                    error=command.error,
                    retry_after_s=command.retry_after_s,
                )
            ]
        case RecordSubmitRefused(task_id=tid) if (
            state.phase == "submitting" and tid == state.task_id
        ):
            return [
                SubmitRejected(
                    at=at,
                    attempt=state.attempt,
                    task_id=tid,
                    http_status=command.http_status,
                    error_code=command.error_code,
                    message=command.message,
                )
            ]
        case RecordStatus(task_id=tid) if tid == state.task_id:
            return _observed(state, command)
        case RecordLost(task_id=tid) if tid == state.task_id and (
            state.phase in DRUID_LIVE or state.phase == "cancelling"
        ):
            events: list[JobEvent] = [
                TaskFailed(at=at, task_id=tid, error_msg=command.evidence, source="lost")
            ]
            if state.phase == "cancelling":
                events.append(JobCancelled(at=at, task_id=tid))
            return events
        case RecordAnalysis(task_id=tid) if (
            state.phase == "failed" and state.classification is None and tid == state.task_id
        ):
            return _analysed(state, command, tid)
        case Adopt(task_id=tid) if state.phase == "new" and command.attempt >= 1:
            return [
                *decide(state, command.accept),
                SubmitIntended(at=at, attempt=command.attempt, task_id=tid),
                Submitted(
                    at=at,
                    attempt=command.attempt,
                    task_id=tid,
                    adopted=True,
                    evidence=command.evidence,
                ),
            ]
        case Cancel():
            return _cancel(state, command)
        case RecordShutdown(task_id=tid) if tid == state.task_id and state.shutdown == "intended":
            done: list[JobEvent] = [
                ShutdownConfirmed(at=at, task_id=tid, http_status=command.http_status)
            ]
            if command.http_status == 404 and state.phase == "cancelling":
                done.append(JobCancelled(at=at, task_id=None))
            return done
        case CheckDeadlines():
            return _deadlines(state, command)
        case Escalate():
            return [JobDied(at=at, reason=command.reason, rule="restart-intensity")]
        case RecordCrash():
            return [ActorCrashed(at=at, error=command.error, restarts=command.restarts)]
    return []


def _observed(state: JobState, obs: RecordStatus) -> list[JobEvent]:
    at, tid = obs.at, obs.task_id
    if state.phase not in DRUID_LIVE and state.phase != "cancelling":
        return []
    if obs.status == "SUCCESS":
        return [TaskSucceeded(at=at, task_id=tid, duration_ms=obs.duration_ms)]
    if obs.status == "FAILED":
        events: list[JobEvent] = [
            TaskFailed(at=at, task_id=tid, error_msg=obs.error_msg, duration_ms=obs.duration_ms)
        ]
        if state.phase == "cancelling":
            events.append(JobCancelled(at=at, task_id=tid))
        return events
    runner = RUNNER_PHASES.get(obs.runner_status or "")
    if runner is None or runner == state.phase or state.phase == "cancelling":
        return []
    return [
        StatusObserved(
            at=at, task_id=tid, runner_status=obs.runner_status or "", location=obs.location
        )
    ]


def _analysed(state: JobState, cmd: RecordAnalysis, tid: str) -> list[JobEvent]:
    counted = failure_counts(cmd.count_attempt, state.uncounted, cmd.max_uncounted)
    events: list[JobEvent] = [
        FailureClassified(
            at=cmd.at,
            task_id=tid,
            classification=cmd.classification,
            rule=cmd.rule,
            reason=cmd.reason,
            report_excerpt=cmd.report_excerpt,
            evidence_source=cmd.evidence_source,
            counted=counted,
        )
    ]
    if cmd.classification == "structural":
        events.append(JobDied(at=cmd.at, reason=f"structural failure: {cmd.reason}", rule=cmd.rule))
    elif counted and state.attempt - state.uncounted - state.attempt_base >= state.max_attempts:
        events.append(
            JobDied(
                at=cmd.at,
                reason=f"transient failure, but all {state.max_attempts} attempts are used: "
                f"{cmd.reason}",
                rule=cmd.rule,
            )
        )
    else:
        events.append(
            RetryScheduled(
                at=cmd.at,
                next_attempt=state.attempt + 1,
                delay_s=cmd.retry_delay_s,
                not_before=cmd.at + cmd.retry_delay_s,
            )
        )
    return events


def failure_counts(rule_says: bool, spared: int, max_spared: int) -> bool:
    """Whether a failure uses up one of the job's attempts: as its rule says, and anyway once
    the job has had `max_spared` failures spared (so a task that keeps losing its worker ends).
    """
    return rule_says or spared >= max_spared


def _cancel(state: JobState, cmd: Cancel) -> list[JobEvent]:
    at = cmd.at
    if state.phase == "cancelling" or state.cancel_requested:
        return []
    requested = CancelRequested(at=at, reason=cmd.reason)
    if state.phase in DRUID_LIVE or state.phase == "submitting":
        assert state.task_id is not None
        if state.shutdown != "none":  # a deadline shutdown is already under way
            return [requested]
        return [requested, ShutdownIntended(at=at, task_id=state.task_id, reason="cancel")]
    return [requested, JobCancelled(at=at, task_id=None)]


class PhaseLimits(Protocol):
    """The longest a task may spend in each Druid phase, in seconds (None: no limit)."""

    @property
    def waiting_s(self) -> float | None: ...
    @property
    def pending_s(self) -> float | None: ...
    @property
    def running_s(self) -> float | None: ...


def phase_deadline(phase: Phase, limits: PhaseLimits) -> float | None:
    """How long a job may stay in `phase`: only the Druid phases have a limit."""
    if phase == "waiting":
        return limits.waiting_s
    if phase == "pending":
        return limits.pending_s
    if phase == "running":
        return limits.running_s
    return None


def _deadlines(state: JobState, cmd: CheckDeadlines) -> list[JobEvent]:
    limit = phase_deadline(state.phase, cmd)
    if limit is None or state.deadline_exceeded or state.shutdown != "none":
        return []
    if state.phase_since is None or state.task_id is None:
        return []
    elapsed = cmd.at - state.phase_since
    if elapsed <= limit:
        return []
    return [
        PhaseDeadlineExceeded(
            at=cmd.at, task_id=state.task_id, phase=state.phase, limit_s=limit, elapsed_s=elapsed
        ),
        ShutdownIntended(at=cmd.at, task_id=state.task_id, reason="deadline"),
    ]


# --- next_effect -------------------------------------------------------------------------


def next_effect(state: JobState, *, recovered: bool = False) -> Effect | None:
    """What the state asks the actor to do next, or None to wait for a message.

    `recovered`: the state was read back from the log and the actor has recorded nothing
    since, so an intent in it may be an earlier run's, whose POST may have landed.
    """
    phase = state.phase
    if phase in TERMINAL:
        return Finish()
    if phase == "accepted":
        return StartAttempt()
    if phase == "retry_wait":
        return StartAttempt(not_before=state.retry_not_before)
    if phase == "submitting":
        assert state.task_id is not None
        if state.cancel_requested:
            return None
        # A POST of this id may have landed: an earlier run's, or one whose outcome was unknown.
        confirm = recovered or state.submit_not_before is not None
        return SubmitTask(state.task_id, not_before=state.submit_not_before, confirm_first=confirm)
    if phase == "failed":
        if state.classification is None:
            return AnalyseFailure(state.task_id, source=state.failure_source or "status")
        return None
    if state.task_id is not None and (phase in DRUID_LIVE or phase == "cancelling"):
        if state.shutdown == "intended":
            return ShutdownTask(state.task_id)
        return WatchTask(state.task_id)
    return None
