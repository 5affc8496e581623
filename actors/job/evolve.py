"""The fold half of the job FSM: how a recorded event changes a job's state.

`evolve(state, event)` is pure and total over the events a job stream may hold: it returns the
next state, or raises `InvalidTransitionError` when the phase does not allow the event (a bug,
or a tampered log). `fold` replays a whole stream. Live operation and replay run this same
code, which is what makes a job's state the fold of its events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from msgspec.structs import replace

from actors.errors import InvalidTransitionError
from actors.job.state import (
    DRUID_LIVE,
    RETRYABLE,
    RUNNER_PHASES,
    TASK_MAY_LIVE,
    TERMINAL,
    JobState,
    Phase,
)
from eventlog.events import (
    ActorCrashed,
    CancelRequested,
    Event,
    FailureClassified,
    JobAccepted,
    JobCancelled,
    JobDied,
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


def evolve(state: JobState, event: Event) -> JobState:
    """The state after `event`. Raises InvalidTransitionError for an event the phase forbids."""
    if state.phase in TERMINAL and type(event) is not JobRetried:
        raise InvalidTransitionError(state.phase, event)
    step = _EVOLVERS.get(type(event))
    new = step(state, event, state.version + 1) if step is not None else None
    if new is None:
        raise InvalidTransitionError(state.phase, event)
    return new


# One small function per event type, found by a dict lookup (replay speed: docs/job-fsm.md).
# Each returns the new state, or None when the phase does not allow the event.
_Evolver = Callable[[JobState, Any, int], "JobState | None"]


def _job_accepted(s: JobState, e: JobAccepted, v: int) -> JobState | None:
    if s.phase != "new":
        return None
    return replace(
        s,
        version=v,
        phase="accepted",
        job_id=e.job_id,
        datasource=e.datasource,
        interval=e.interval,
        # A decoded Raw is a view that pins the whole buffer it came from (in a bulk replay,
        # a chunk of 5,000 events); the state keeps only the spec's own bytes.
        spec=e.spec.copy(),
        spec_hash=e.spec_hash,
        pipeline=e.pipeline,
        watermark_from=e.watermark_from,
        max_attempts=e.max_attempts,
        accepted_at=e.at,
    )


def _submit_intended(s: JobState, e: SubmitIntended, v: int) -> JobState | None:
    if s.phase not in ("accepted", "retry_wait") or e.attempt <= s.attempt:
        return None
    if s.phase == "accepted" and e.interval is None and e.sub_tasks is None:
        # A first attempt: nothing has set the per-attempt fields cleared below yet, and each
        # keyword costs replay time (this is a third of a job stream's fold when spelled out).
        return replace(
            s, version=v, phase="submitting", attempt=e.attempt, task_id=e.task_id, phase_since=e.at
        )
    return replace(
        s,
        version=v,
        phase="submitting",
        attempt=e.attempt,
        task_id=e.task_id,
        submit_interval=e.interval,
        sub_tasks=e.sub_tasks,
        phase_since=e.at,
        submit_not_before=None,
        retry_not_before=None,
        **_LAST_ATTEMPT_CLEARED,
    )


# What an attempt leaves behind that the next one must not inherit (besides its timers).
_LAST_ATTEMPT_CLEARED: dict[str, Any] = {
    "shutdown": "none",
    "deadline_exceeded": None,
    "failure_source": None,
    "failure_http_status": None,
    "failure_error_code": None,
    "classification": None,
    "reason": None,
    "rule": None,
}


def _submit_deferred(s: JobState, e: SubmitDeferred, v: int) -> JobState | None:
    if s.phase != "submitting" or e.task_id != s.task_id:
        return None
    return replace(s, version=v, last_error=e.error, submit_not_before=e.at + e.retry_after_s)


def _submitted(s: JobState, e: Submitted, v: int) -> JobState | None:
    if s.phase != "submitting" or e.task_id != s.task_id:
        return None
    return replace(s, version=v, phase="submitted", phase_since=e.at, submit_not_before=None)


def _submit_rejected(s: JobState, e: SubmitRejected, v: int) -> JobState | None:
    if s.phase != "submitting" or e.task_id != s.task_id:
        return None
    return replace(
        s,
        version=v,
        phase="failed",
        last_error=e.message,
        failure_source="rejected",
        failure_http_status=e.http_status,
        failure_error_code=e.error_code,
        finished_at=e.at,
    )


def _status_observed(s: JobState, e: StatusObserved, v: int) -> JobState | None:
    new_phase = RUNNER_PHASES.get(e.runner_status)
    if s.phase not in DRUID_LIVE or e.task_id != s.task_id or new_phase is None:
        return None
    return replace(s, version=v, phase=new_phase, phase_since=e.at)


def _task_succeeded(s: JobState, e: TaskSucceeded, v: int) -> JobState | None:
    if (s.phase not in DRUID_LIVE and s.phase != "cancelling") or e.task_id != s.task_id:
        return None
    return replace(s, version=v, phase="succeeded", finished_at=e.at)


def _task_failed(s: JobState, e: TaskFailed, v: int) -> JobState | None:
    if (s.phase not in DRUID_LIVE and s.phase != "cancelling") or e.task_id != s.task_id:
        return None
    next_phase: Phase = "cancelling" if s.phase == "cancelling" else "failed"
    return replace(
        s,
        version=v,
        phase=next_phase,
        last_error=e.error_msg,
        failure_source=e.source,
        finished_at=e.at,
    )


def _failure_classified(s: JobState, e: FailureClassified, v: int) -> JobState | None:
    if s.phase != "failed" or s.classification is not None:
        return None
    return replace(
        s,
        version=v,
        classification=e.classification,
        rule=e.rule,
        reason=e.reason,
        uncounted=s.uncounted if e.counted else s.uncounted + 1,
    )


def _retry_scheduled(s: JobState, e: RetryScheduled, v: int) -> JobState | None:
    if s.phase != "failed" or e.next_attempt != s.attempt + 1:
        return None
    return replace(s, version=v, phase="retry_wait", retry_not_before=e.not_before)


def _job_dead(s: JobState, e: JobDied, v: int) -> JobState | None:
    return replace(
        s,
        version=v,
        phase="dead",
        finished_at=e.at,
        last_error=s.last_error or e.reason,
        died_in=s.phase,
    )


def _job_retried(s: JobState, e: JobRetried, v: int) -> JobState | None:
    if s.phase not in RETRYABLE:
        return None
    # Both budgets start again: the attempts, and the failures spared from counting.
    # Only a job that died may have left its task live (an escalation mid-run): that task is
    # looked up first, under its own id, so that no second task runs beside it.
    readopt = s.phase == "dead" and s.task_id is not None and s.died_in in TASK_MAY_LIVE
    return replace(
        s,
        version=v,
        phase="submitting" if readopt else "retry_wait",
        phase_since=e.at,
        attempt_base=s.attempt - 1 if readopt else s.attempt,
        uncounted=0,
        submit_not_before=e.at if readopt else None,
        retry_not_before=None if readopt else e.at,
        finished_at=None,
        died_in=None,
        cancel_requested=False,
        **_LAST_ATTEMPT_CLEARED,
    )


def _cancel_requested(s: JobState, e: CancelRequested, v: int) -> JobState | None:
    if s.cancel_requested:
        return None
    live = s.phase in DRUID_LIVE or s.phase == "submitting"
    return replace(s, version=v, cancel_requested=True, phase="cancelling" if live else s.phase)


def _shutdown_intended(s: JobState, e: ShutdownIntended, v: int) -> JobState | None:
    if (
        (s.phase not in DRUID_LIVE and s.phase != "cancelling")
        or e.task_id != s.task_id
        or s.shutdown != "none"
    ):
        return None
    return replace(s, version=v, shutdown="intended")


def _shutdown_confirmed(s: JobState, e: ShutdownConfirmed, v: int) -> JobState | None:
    if s.shutdown != "intended" or e.task_id != s.task_id:
        return None
    return replace(s, version=v, shutdown="confirmed")


def _job_cancelled(s: JobState, e: JobCancelled, v: int) -> JobState | None:
    if not s.cancel_requested:
        return None
    return replace(s, version=v, phase="cancelled", finished_at=e.at)


def _deadline_exceeded(s: JobState, e: PhaseDeadlineExceeded, v: int) -> JobState | None:
    if s.phase not in DRUID_LIVE or e.task_id != s.task_id:
        return None
    return replace(s, version=v, deadline_exceeded=e.phase)


def _actor_crashed(s: JobState, e: ActorCrashed, v: int) -> JobState | None:
    return replace(s, version=v, restarts=e.restarts)


_EVOLVERS: dict[type[Event], _Evolver] = {
    JobAccepted: _job_accepted,
    SubmitIntended: _submit_intended,
    SubmitDeferred: _submit_deferred,
    Submitted: _submitted,
    SubmitRejected: _submit_rejected,
    StatusObserved: _status_observed,
    TaskSucceeded: _task_succeeded,
    TaskFailed: _task_failed,
    FailureClassified: _failure_classified,
    RetryScheduled: _retry_scheduled,
    JobDied: _job_dead,
    JobRetried: _job_retried,
    CancelRequested: _cancel_requested,
    ShutdownIntended: _shutdown_intended,
    ShutdownConfirmed: _shutdown_confirmed,
    JobCancelled: _job_cancelled,
    PhaseDeadlineExceeded: _deadline_exceeded,
    ActorCrashed: _actor_crashed,
}


def fold(events: Iterable[Event], state: JobState | None = None) -> JobState:
    """Replay: the state after applying `events` in order from `state` (or from scratch)."""
    current = state or JobState()
    for event in events:
        current = evolve(current, event)
    return current
