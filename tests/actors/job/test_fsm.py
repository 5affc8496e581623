"""Focused cases of the job FSM (the property test covers the general invariants)."""

from __future__ import annotations

import sys

import msgspec

from actors.job.evolve import evolve
from actors.job.fsm import decide, next_effect
from actors.job.messages import (
    Accept,
    BeginAttempt,
    Cancel,
    CheckDeadlines,
    Command,
    Escalate,
    RecordAlreadyExists,
    RecordAnalysis,
    RecordShutdown,
    RecordStatus,
    RecordSubmitted,
    Retry,
    ShutdownTask,
    StartAttempt,
    SubmitTask,
    WatchTask,
)
from actors.job.state import JobState
from eventlog.events import (
    CancelRequested,
    JobAccepted,
    JobCancelled,
    JobRetried,
    PhaseDeadlineExceeded,
    ShutdownIntended,
    TaskSucceeded,
    spec_raw,
)

JOB = "orch_ds_20240101T000000Z_20240102T000000Z_0123456789ab"


def run(*commands: Command, state: JobState | None = None) -> tuple[JobState, list[object]]:
    state = state or JobState()
    recorded: list[object] = []
    for command in commands:
        for event in decide(state, command):
            state = evolve(state, event)
            recorded.append(event)
    return state, recorded


ACCEPT = Accept(
    at=0,
    job_id=JOB,
    datasource="ds",
    interval="i",
    spec=spec_raw({}),
    spec_hash="h",
    max_attempts=3,
)


def running_job() -> JobState:
    state, _ = run(
        ACCEPT,
        BeginAttempt(at=1),
        RecordSubmitted(at=2, task_id=f"{JOB}_1"),
        RecordStatus(at=3, task_id=f"{JOB}_1", status="RUNNING", runner_status="RUNNING"),
    )
    assert state.phase == "running"
    return state


def test_the_task_id_of_each_attempt_is_the_job_id_and_the_attempt_number() -> None:
    state = running_job()
    assert state.task_id == f"{JOB}_1"
    assert state.attempt == 1


def test_a_task_that_finishes_while_being_cancelled_records_what_really_happened() -> None:
    state, events = run(
        Cancel(at=4),
        RecordStatus(at=5, task_id=f"{JOB}_1", status="SUCCESS", duration_ms=900),
        state=running_job(),
    )
    assert state.phase == "succeeded"
    assert [type(e) for e in events] == [CancelRequested, ShutdownIntended, TaskSucceeded]


def test_cancelling_twice_is_harmless() -> None:
    state, events = run(Cancel(at=4), Cancel(at=5), state=running_job())
    assert state.phase == "cancelling"
    assert sum(isinstance(e, CancelRequested) for e in events) == 1
    assert isinstance(next_effect(state), ShutdownTask)
    state, events = run(
        RecordShutdown(at=6, task_id=f"{JOB}_1"),
        RecordStatus(
            at=7, task_id=f"{JOB}_1", status="FAILED", error_msg="Shutdown request from user"
        ),
        Cancel(at=8),
        state=state,
    )
    assert state.phase == "cancelled"
    assert isinstance(events[-1], JobCancelled)


def test_cancelling_a_job_with_no_live_task_ends_it_at_once() -> None:
    state, _ = run(
        ACCEPT,
        Cancel(at=1),
    )
    assert state.phase == "cancelled"


def test_a_phase_deadline_shuts_the_task_down_and_the_failure_is_retried() -> None:
    state = running_job()
    state, events = run(CheckDeadlines(at=3 + 10, running_s=5), state=state)
    assert [type(e) for e in events] == [PhaseDeadlineExceeded, ShutdownIntended]
    assert state.deadline_exceeded == "running"
    assert isinstance(next_effect(state), ShutdownTask)
    state, _ = run(
        RecordShutdown(at=14, task_id=f"{JOB}_1"),
        RecordStatus(
            at=15, task_id=f"{JOB}_1", status="FAILED", error_msg="Shutdown request from user"
        ),
        RecordAnalysis(
            at=16,
            task_id=f"{JOB}_1",
            classification="transient",
            rule="phase-deadline",
            reason="deadline",
            retry_delay_s=2,
        ),
        state=state,
    )
    assert state.phase == "retry_wait"
    assert state.retry_not_before == 18
    state, _ = run(BeginAttempt(at=17), state=state)
    assert state.phase == "retry_wait"  # too early: the retry delay has not passed
    state, _ = run(BeginAttempt(at=18), state=state)
    assert state.phase == "submitting"
    assert state.task_id == f"{JOB}_2"
    assert state.deadline_exceeded is None


def test_a_deadline_not_yet_passed_changes_nothing() -> None:
    state = running_job()
    after, events = run(CheckDeadlines(at=5, running_s=5), state=state)
    assert events == []
    assert after == state


def test_status_about_another_task_id_is_ignored() -> None:
    state = running_job()
    after, events = run(RecordStatus(at=9, task_id="someone_else", status="FAILED"), state=state)
    assert events == []
    assert after == state
    assert isinstance(next_effect(after), WatchTask)


def test_transient_failures_stop_when_the_attempts_are_used_up() -> None:
    state = running_job()
    for attempt in range(1, 4):
        tid = f"{JOB}_{attempt}"
        if attempt > 1:
            state, _ = run(
                BeginAttempt(at=100 * attempt),
                RecordSubmitted(at=100 * attempt, task_id=tid),
                state=state,
            )
        state, _ = run(
            RecordStatus(at=100 * attempt + 1, task_id=tid, status="FAILED", error_msg="SlowDown"),
            RecordAnalysis(
                at=100 * attempt + 2,
                task_id=tid,
                classification="transient",
                rule="r",
                reason="throttled",
                retry_delay_s=1,
            ),
            state=state,
        )
    assert state.phase == "dead"
    assert state.attempt == 3


def test_the_state_keeps_its_own_copy_of_a_decoded_spec() -> None:
    # A decoded Raw is a view that pins the buffer it was decoded from: in a bulk replay, a
    # whole chunk of events per job still held.
    accepted = JobAccepted(
        at=1.0, job_id=JOB, datasource="ds", interval="i", spec=spec_raw({"a": 1}), spec_hash="h"
    )
    padding = "x" * 1_000_000
    buffer = msgspec.json.encode([accepted, padding])
    unpinned = sys.getrefcount(buffer)
    decoded = msgspec.json.decode(buffer, type=tuple[JobAccepted, str])[0]
    state = evolve(JobState(), decoded)
    del decoded
    assert sys.getrefcount(buffer) == unpinned
    assert bytes(state.spec) == b'{"a":1}'


def fail(state: JobState, at: float, kind: str = "transient") -> JobState:
    """The current attempt's task fails and is classified `kind`."""
    assert state.task_id is not None
    state, _ = run(
        RecordStatus(at=at, task_id=state.task_id, status="FAILED", error_msg="boom"),
        RecordAnalysis(
            at=at + 1,
            task_id=state.task_id,
            classification=kind,  # type: ignore[arg-type]
            rule="r",
            reason="why",
            retry_delay_s=0,
        ),
        state=state,
    )
    return state


def attempt(state: JobState, at: float) -> JobState:
    """Start the next attempt and have it submitted."""
    state, _ = run(BeginAttempt(at=at), state=state)
    assert state.task_id is not None
    state, _ = run(RecordSubmitted(at=at + 1, task_id=state.task_id), state=state)
    return state


def test_a_retried_job_gets_a_fresh_set_of_attempts_under_new_task_ids() -> None:
    state = running_job()  # max_attempts = 3
    for n in (10, 20):
        state = attempt(fail(state, n), n + 5)
    state = fail(state, 30)
    assert (state.phase, state.attempt) == ("dead", 3)
    state, events = run(Retry(at=40, reason="input fixed"), state=state)
    assert [type(e) for e in events] == [JobRetried]
    assert (state.phase, state.attempt_base, state.uncounted) == ("retry_wait", 3, 0)
    for n in (50, 60):
        state = fail(attempt(state, n), n + 5)
        assert state.phase == "retry_wait", "an attempt of the new set was refused"
    state = fail(attempt(state, 70), 75)
    assert (state.phase, state.attempt) == ("dead", 6), "three attempts, then dead again"
    assert len({f"{JOB}_{n}" for n in range(1, 7)}) == 6


def test_a_job_that_died_with_its_task_running_looks_that_task_up_before_anything_else() -> None:
    state, _ = run(Escalate(at=10, reason="too many crashes"), state=running_job())
    assert (state.phase, state.died_in) == ("dead", "running")
    state, _ = run(Retry(at=20), state=state)
    assert (state.phase, state.task_id, state.attempt) == ("submitting", f"{JOB}_1", 1)
    effect = next_effect(state)
    assert isinstance(effect, SubmitTask)
    assert effect.task_id == f"{JOB}_1"
    assert (effect.not_before, effect.confirm_first) == (20, True), "asks the Overlord first"
    state, _ = run(RecordAlreadyExists(at=21, task_id=f"{JOB}_1", status="RUNNING"), state=state)
    assert state.phase == "submitted"


def test_only_dead_or_cancelled_jobs_are_retried() -> None:
    assert run(Retry(at=9), state=running_job())[1] == []
    done, _ = run(RecordStatus(at=9, task_id=f"{JOB}_1", status="SUCCESS"), state=running_job())
    assert done.phase == "succeeded"
    assert run(Retry(at=10), state=done)[1] == []
    cancelled, _ = run(Cancel(at=1), state=run(ACCEPT)[0])
    assert cancelled.phase == "cancelled"
    again, _ = run(Retry(at=2), state=cancelled)
    assert (again.phase, again.cancel_requested) == ("retry_wait", False)
    assert isinstance(next_effect(again), StartAttempt)
