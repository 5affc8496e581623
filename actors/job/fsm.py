"""The job finite-state machine, as pure functions (decider style).

`decide(state, command)` says what a command means, `evolve(state, event)` folds a recorded
event in, and `next_effect(state)` says what the state asks the actor to do. No I/O, no clock,
no randomness: time and random delays come in on the commands. Replay is the fold of `evolve`,
the same code as live operation, so a replayed job resumes by itself. docs/job-fsm.md tells
the rest: commands, events, effects, guards, attempts and replay.

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

succeeded, cancelled and dead are terminal: they absorb every command but a person's retry
of a dead or cancelled job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    PhaseLimits,
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
    DRUID_LIVE,
    RETRYABLE,
    RUNNER_PHASES,
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

__all__ = ["decide", "failure_counts", "next_effect", "phase_deadline"]


# --- decide ------------------------------------------------------------------------------


def decide(state: JobState, command: Command) -> list[JobEvent]:
    """The events that `command` causes in `state` (possibly none)."""
    if isinstance(command, Retry):
        return _retry(state, command)
    if state.terminal:
        return []
    handler = _DECIDERS.get(type(command))
    return handler(state, command) if handler is not None else []


def _retry(state: JobState, cmd: Retry) -> list[JobEvent]:
    if state.phase not in RETRYABLE:
        return []
    return [JobRetried(at=cmd.at, reason=cmd.reason, by=cmd.by)]


def _accept(state: JobState, cmd: Accept) -> list[JobEvent]:
    if state.phase != "new":
        return []
    return [
        JobAccepted(
            at=cmd.at,
            job_id=cmd.job_id,
            datasource=cmd.datasource,
            interval=cmd.interval,
            spec=cmd.spec,
            spec_hash=cmd.spec_hash,
            max_attempts=cmd.max_attempts,
            pipeline=cmd.pipeline,
            watermark_from=cmd.watermark_from,
        )
    ]


def _begin_attempt(state: JobState, cmd: BeginAttempt) -> list[JobEvent]:
    waited = state.retry_not_before is None or cmd.at >= state.retry_not_before
    if state.phase == "accepted" or (state.phase == "retry_wait" and waited):
        attempt = state.attempt + 1
        return [
            SubmitIntended(
                at=cmd.at,
                attempt=attempt,
                task_id=task_id_for(state.job_id, attempt),
                interval=cmd.interval,
                watermark=cmd.watermark,
                sub_tasks=cmd.sub_tasks,
            )
        ]
    return []


def _awaits_answer(state: JobState, task_id: str) -> bool:
    """Whether the job waits for the outcome of submitting `task_id`."""
    return state.phase == "submitting" and task_id == state.task_id


def _submitted(state: JobState, cmd: RecordSubmitted) -> list[JobEvent]:
    if not _awaits_answer(state, cmd.task_id):
        return []
    return [Submitted(at=cmd.at, attempt=state.attempt, task_id=cmd.task_id)]


def _already_exists(state: JobState, cmd: RecordAlreadyExists) -> list[JobEvent]:
    if not _awaits_answer(state, cmd.task_id):
        return []
    return [
        Submitted(
            at=cmd.at,
            attempt=state.attempt,
            task_id=cmd.task_id,
            adopted=True,
            evidence=f"duplicate id; Overlord status {cmd.status}",
        )
    ]


def _submit_unknown(state: JobState, cmd: RecordSubmitUnknown) -> list[JobEvent]:
    if not _awaits_answer(state, cmd.task_id):
        return []
    return [
        SubmitDeferred(
            at=cmd.at,
            attempt=state.attempt,
            task_id=cmd.task_id,
            error=cmd.error,
            retry_after_s=cmd.retry_after_s,
        )
    ]


def _submit_refused(state: JobState, cmd: RecordSubmitRefused) -> list[JobEvent]:
    if not _awaits_answer(state, cmd.task_id):
        return []
    return [
        SubmitRejected(
            at=cmd.at,
            attempt=state.attempt,
            task_id=cmd.task_id,
            http_status=cmd.http_status,
            error_code=cmd.error_code,
            message=cmd.message,
        )
    ]


def _task_in_druid(state: JobState, task_id: str) -> bool:
    """Whether `task_id` is the job's task and Druid may still be running it."""
    live = state.phase in DRUID_LIVE or state.phase == "cancelling"
    return live and task_id == state.task_id


def _observed(state: JobState, obs: RecordStatus) -> list[JobEvent]:
    at, tid = obs.at, obs.task_id
    if not _task_in_druid(state, tid):
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


def _lost(state: JobState, cmd: RecordLost) -> list[JobEvent]:
    if not _task_in_druid(state, cmd.task_id):
        return []
    events: list[JobEvent] = [
        TaskFailed(at=cmd.at, task_id=cmd.task_id, error_msg=cmd.evidence, source="lost")
    ]
    if state.phase == "cancelling":
        events.append(JobCancelled(at=cmd.at, task_id=cmd.task_id))
    return events


def _analysed(state: JobState, cmd: RecordAnalysis) -> list[JobEvent]:
    if state.phase != "failed" or state.classification is not None:
        return []
    if cmd.task_id != state.task_id:
        return []
    counted = failure_counts(cmd.count_attempt, state.uncounted, cmd.max_uncounted)
    events: list[JobEvent] = [
        FailureClassified(
            at=cmd.at,
            task_id=cmd.task_id,
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


def _adopt(state: JobState, cmd: Adopt) -> list[JobEvent]:
    if state.phase != "new" or cmd.attempt < 1:
        return []
    return [
        *_accept(state, cmd.accept),
        SubmitIntended(at=cmd.at, attempt=cmd.attempt, task_id=cmd.task_id),
        Submitted(
            at=cmd.at,
            attempt=cmd.attempt,
            task_id=cmd.task_id,
            adopted=True,
            evidence=cmd.evidence,
        ),
    ]


def _cancel(state: JobState, cmd: Cancel) -> list[JobEvent]:
    at = cmd.at
    if state.cancel_requested:  # cancelling, or about to be cancelled
        return []
    requested = CancelRequested(at=at, reason=cmd.reason)
    if state.phase in DRUID_LIVE or state.phase == "submitting":
        assert state.task_id is not None
        if state.shutdown != "none":  # a deadline shutdown is already under way
            return [requested]
        return [requested, ShutdownIntended(at=at, task_id=state.task_id, reason="cancel")]
    return [requested, JobCancelled(at=at, task_id=None)]


def _shutdown_answered(state: JobState, cmd: RecordShutdown) -> list[JobEvent]:
    if cmd.task_id != state.task_id or state.shutdown != "intended":
        return []
    events: list[JobEvent] = [
        ShutdownConfirmed(at=cmd.at, task_id=cmd.task_id, http_status=cmd.http_status)
    ]
    if cmd.http_status == 404 and state.phase == "cancelling":
        events.append(JobCancelled(at=cmd.at, task_id=None))
    return events


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


def _escalate(state: JobState, cmd: Escalate) -> list[JobEvent]:
    return [JobDied(at=cmd.at, reason=cmd.reason, rule="restart-intensity")]


def _crashed(state: JobState, cmd: RecordCrash) -> list[JobEvent]:
    return [ActorCrashed(at=cmd.at, error=cmd.error, restarts=cmd.restarts)]


# One handler per command type, as `evolve` has one per event type. Retry is not here: it is
# the one command a terminal phase does not absorb, so `decide` looks at it first.
_Decider = Callable[[JobState, Any], list[JobEvent]]
_DECIDERS: dict[type[Command], _Decider] = {
    Accept: _accept,
    BeginAttempt: _begin_attempt,
    RecordSubmitted: _submitted,
    RecordAlreadyExists: _already_exists,
    RecordSubmitUnknown: _submit_unknown,
    RecordSubmitRefused: _submit_refused,
    RecordStatus: _observed,
    RecordLost: _lost,
    RecordAnalysis: _analysed,
    Adopt: _adopt,
    Cancel: _cancel,
    RecordShutdown: _shutdown_answered,
    CheckDeadlines: _deadlines,
    Escalate: _escalate,
    RecordCrash: _crashed,
}


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
