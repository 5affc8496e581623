"""The job FSM's guards: stale, late and out-of-phase messages change nothing, and the
messages that do count produce exactly their events."""

from __future__ import annotations

from typing import get_args

import pytest

from actors.errors import InvalidTransitionError
from actors.job.evolve import evolve
from actors.job.fsm import decide, next_effect, phase_deadline
from actors.job.messages import (
    Accept,
    Adopt,
    AnalyseFailure,
    BeginAttempt,
    Cancel,
    CheckDeadlines,
    Command,
    Escalate,
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
    SubmitTask,
    WatchTask,
)
from actors.job.state import PHASES, JobState, Phase
from eventlog.events import (
    ActorCrashed,
    CancelRequested,
    Event,
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
    spec_raw,
)

JOB = "orch_ds_20240101T000000Z_20240102T000000Z_0123456789ab"
T1, T2 = f"{JOB}_1", f"{JOB}_2"
ACCEPT = Accept(
    at=0,
    job_id=JOB,
    datasource="ds",
    interval="i",
    spec=spec_raw({}),
    spec_hash="h",
    max_attempts=3,
)


def run(*commands: Command, state: JobState | None = None) -> tuple[JobState, list[JobEvent]]:
    state = state or JobState()
    recorded: list[JobEvent] = []
    for command in commands:
        for event in decide(state, command):
            state = evolve(state, event)
            recorded.append(event)
    return state, recorded


def after(*commands: Command, state: JobState | None = None) -> JobState:
    return run(*commands, state=state)[0]


def analysis(at: float, tid: str = T1, kind: str = "transient") -> RecordAnalysis:
    return RecordAnalysis(
        at=at,
        task_id=tid,
        classification=kind,  # type: ignore[arg-type]
        rule="r",
        reason="why",
        retry_delay_s=5.0,
    )


def running_status(at: float, tid: str, runner: str = "RUNNING") -> RecordStatus:
    return RecordStatus(at=at, task_id=tid, status="RUNNING", runner_status=runner)


# The life of a job, one phase at a time; attempt 1 runs from t=1, attempt 2 from t=10.
def accepted() -> JobState:
    return after(ACCEPT)


def submitting() -> JobState:
    return after(BeginAttempt(at=1), state=accepted())


def submitted() -> JobState:
    return after(RecordSubmitted(at=2, task_id=T1), state=submitting())


def running() -> JobState:
    return after(running_status(3, T1), state=submitted())


def failed() -> JobState:
    return after(RecordStatus(at=4, task_id=T1, status="FAILED", error_msg="boom"), state=running())


def retry_wait() -> JobState:
    return after(analysis(5), state=failed())  # not before t=10


def cancelling() -> JobState:
    return after(Cancel(at=4), state=running())


def submitting_2() -> JobState:
    return after(BeginAttempt(at=10), state=retry_wait())


def running_2() -> JobState:
    return after(RecordSubmitted(at=11, task_id=T2), running_status(12, T2), state=submitting_2())


def failed_2() -> JobState:
    failure = RecordStatus(at=13, task_id=T2, status="FAILED", error_msg="boom")
    return after(failure, state=running_2())


def cancelling_2() -> JobState:
    return after(Cancel(at=13), state=running_2())


def succeeded() -> JobState:
    return after(RecordStatus(at=4, task_id=T1, status="SUCCESS", duration_ms=5), state=running())


def cancelled() -> JobState:
    return after(Cancel(at=1), state=accepted())


def dead() -> JobState:
    return after(analysis(5, kind="structural"), state=failed())


def test_the_phases_built_here_are_the_ones_their_names_say() -> None:
    built = {
        f.__name__: f().phase
        for f in (accepted, submitting, submitted, running, failed, retry_wait, cancelling)
    }
    assert built == {name: name for name in built}
    assert (submitting_2().phase, running_2().task_id) == ("submitting", T2)
    assert (succeeded().phase, cancelled().phase, dead().phase) == (
        "succeeded",
        "cancelled",
        "dead",
    )


# --- stale messages: the previous attempt's task id ---------------------------------------

ABOUT_THE_FIRST_TASK: list[Command] = [
    RecordSubmitted(at=20, task_id=T1),
    RecordAlreadyExists(at=20, task_id=T1, status="RUNNING"),
    RecordSubmitUnknown(at=20, task_id=T1, error="timeout", retry_after_s=1),
    RecordSubmitRefused(at=20, task_id=T1, http_status=400, error_code=None, message="no"),
    RecordStatus(at=20, task_id=T1, status="SUCCESS", duration_ms=1),
    RecordStatus(at=20, task_id=T1, status="FAILED", error_msg="late"),
    running_status(20, T1, "WAITING"),
    RecordLost(at=20, task_id=T1, evidence="404"),
    RecordShutdown(at=20, task_id=T1, http_status=404),
    analysis(20, tid=T1),
]


@pytest.mark.parametrize("command", ABOUT_THE_FIRST_TASK, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("state", [submitting_2, running_2, failed_2, cancelling_2])
def test_a_message_about_the_previous_attempts_task_changes_nothing(
    state: object, command: Command
) -> None:
    assert callable(state)
    assert decide(state(), command) == []


# --- submission outcomes --------------------------------------------------------------------


def submit_outcomes(tid: str, at: float = 20) -> list[Command]:
    return [
        RecordSubmitted(at=at, task_id=tid),
        RecordAlreadyExists(at=at, task_id=tid, status="RUNNING"),
        RecordSubmitUnknown(at=at, task_id=tid, error="timeout", retry_after_s=1),
        RecordSubmitRefused(at=at, task_id=tid, http_status=400, error_code=None, message="no"),
    ]


@pytest.mark.parametrize("state", [submitted, running, failed, retry_wait, cancelling])
def test_a_submission_outcome_outside_submitting_changes_nothing(state: object) -> None:
    assert callable(state)
    for command in submit_outcomes(T1):
        assert decide(state(), command) == [], command


def test_a_submission_outcome_after_a_cancel_changes_nothing_and_the_task_is_shut_down() -> None:
    state, events = run(Cancel(at=2, reason="user"), state=submitting())
    assert events == [
        CancelRequested(at=2, reason="user"),
        ShutdownIntended(at=2, task_id=T1, reason="cancel"),
    ]
    for command in submit_outcomes(T1):
        assert decide(state, command) == [], command
    assert next_effect(state) == ShutdownTask(T1)


def test_each_submission_outcome_in_submitting_is_recorded_as_it_was() -> None:
    state = submitting()
    assert decide(state, RecordSubmitted(at=2, task_id=T1)) == [
        Submitted(at=2, attempt=1, task_id=T1)
    ]
    assert decide(state, RecordAlreadyExists(at=2, task_id=T1, status="RUNNING")) == [
        Submitted(
            at=2,
            attempt=1,
            task_id=T1,
            adopted=True,
            evidence="duplicate id; Overlord status RUNNING",
        )
    ]
    unknown = RecordSubmitUnknown(at=2, task_id=T1, error="timeout", retry_after_s=3)
    assert decide(state, unknown) == [
        SubmitDeferred(at=2, attempt=1, task_id=T1, error="timeout", retry_after_s=3)
    ]
    refused = RecordSubmitRefused(at=2, task_id=T1, http_status=400, error_code="x", message="no")
    assert decide(state, refused) == [
        SubmitRejected(at=2, attempt=1, task_id=T1, http_status=400, error_code="x", message="no")
    ]


def test_an_answer_about_another_id_while_submitting_changes_nothing() -> None:
    for command in submit_outcomes(T2):
        assert decide(submitting(), command) == [], command


# --- adoption -------------------------------------------------------------------------------


def adopt(attempt: int, tid: str = T1) -> Adopt:
    return Adopt(at=7, accept=ACCEPT, task_id=tid, attempt=attempt, evidence="found it")


def test_an_orphan_is_adopted_in_one_step_as_accepted_intended_and_submitted() -> None:
    state, events = run(adopt(1))
    assert events == [
        JobAccepted(
            at=0,
            job_id=JOB,
            datasource="ds",
            interval="i",
            spec=spec_raw({}),
            spec_hash="h",
            max_attempts=3,
        ),
        SubmitIntended(at=7, attempt=1, task_id=T1),
        Submitted(at=7, attempt=1, task_id=T1, adopted=True, evidence="found it"),
    ]
    assert (state.phase, state.attempt, state.task_id) == ("submitted", 1, T1)


def test_an_adoption_of_attempt_zero_or_of_a_known_job_changes_nothing() -> None:
    assert decide(JobState(), adopt(0, f"{JOB}_0")) == []
    assert decide(accepted(), adopt(1)) == []
    assert decide(running(), adopt(2, T2)) == []


# --- terminal phases and a person's retry ---------------------------------------------------

EVERY_COMMAND_BUT_RETRY: list[Command] = [
    ACCEPT,
    BeginAttempt(at=50),
    *submit_outcomes(T1, at=50),
    RecordStatus(at=50, task_id=T1, status="FAILED", error_msg="late"),
    running_status(50, T1),
    RecordLost(at=50, task_id=T1, evidence="404"),
    analysis(50),
    adopt(1),
    Cancel(at=50),
    RecordShutdown(at=50, task_id=T1, http_status=404),
    CheckDeadlines(at=50, waiting_s=0.1, pending_s=0.1, running_s=0.1),
    Escalate(at=50, reason="crashes"),
    RecordCrash(at=50, error="boom", restarts=1),
]


@pytest.mark.parametrize("state", [succeeded, cancelled, dead])
def test_a_terminal_phase_absorbs_every_command_but_a_retry(state: object) -> None:
    assert callable(state)
    for command in EVERY_COMMAND_BUT_RETRY:
        assert decide(state(), command) == [], command


@pytest.mark.parametrize(
    "state", [accepted, submitting, submitted, running, failed, retry_wait, cancelling, succeeded]
)
def test_a_retry_of_a_job_that_is_not_dead_or_cancelled_changes_nothing(state: object) -> None:
    assert callable(state)
    assert decide(state(), Retry(at=50, reason="again")) == []


@pytest.mark.parametrize("state", [cancelled, dead])
def test_a_retry_of_a_dead_or_cancelled_job_is_recorded_with_who_asked_and_why(
    state: object,
) -> None:
    assert callable(state)
    assert decide(state(), Retry(at=50, reason="fixed", by="ana")) == [
        JobRetried(at=50, reason="fixed", by="ana")
    ]


def test_a_retried_job_whose_task_had_ended_starts_a_new_attempt_after_its_last_one() -> None:
    state = after(Retry(at=50), state=dead())  # died in `failed`: its task had ended
    assert (state.phase, state.attempt_base, state.retry_not_before) == ("retry_wait", 1, 50)
    assert decide(state, BeginAttempt(at=50)) == [SubmitIntended(at=50, attempt=2, task_id=T2)]


def test_a_job_that_died_before_any_task_is_retried_with_a_first_attempt() -> None:
    state = after(Escalate(at=1, reason="crashes"), state=accepted())
    assert (state.died_in, state.task_id) == ("accepted", None)
    state = after(Retry(at=50), state=state)
    assert (state.phase, state.attempt_base) == ("retry_wait", 0)


# --- attempts -------------------------------------------------------------------------------


def test_the_next_attempt_starts_exactly_when_its_retry_delay_is_over() -> None:
    state = retry_wait()
    assert state.retry_not_before == 10
    assert decide(state, BeginAttempt(at=9.99)) == []
    assert decide(state, BeginAttempt(at=10)) == [SubmitIntended(at=10, attempt=2, task_id=T2)]


@pytest.mark.parametrize("state", [JobState, submitting, submitted, running, failed, cancelling])
def test_a_begin_attempt_outside_accepted_and_retry_wait_changes_nothing(state: object) -> None:
    assert callable(state)
    assert decide(state(), BeginAttempt(at=1000)) == []


def test_a_job_is_accepted_once() -> None:
    assert decide(accepted(), ACCEPT) == []


# --- status, loss, analysis -----------------------------------------------------------------


def test_a_runner_status_is_recorded_only_when_it_changes_the_phase() -> None:
    assert decide(submitted(), running_status(3, T1, "WAITING")) == [
        StatusObserved(at=3, task_id=T1, runner_status="WAITING")
    ]
    assert decide(running(), running_status(9, T1, "RUNNING")) == []
    assert decide(running(), running_status(9, T1, "UNHEARD_OF")) == []
    assert decide(cancelling(), running_status(9, T1, "PENDING")) == []


@pytest.mark.parametrize("state", [submitting, failed, retry_wait])
def test_a_status_for_a_task_not_live_in_druid_changes_nothing(state: object) -> None:
    assert callable(state)
    for status in ("SUCCESS", "FAILED"):
        assert decide(state(), RecordStatus(at=9, task_id=T1, status=status)) == []


def test_a_task_that_fails_while_being_cancelled_ends_the_job_cancelled() -> None:
    failure = RecordStatus(at=9, task_id=T1, status="FAILED", error_msg="stopped", duration_ms=7)
    assert decide(cancelling(), failure) == [
        TaskFailed(at=9, task_id=T1, error_msg="stopped", duration_ms=7),
        JobCancelled(at=9, task_id=T1),
    ]
    assert decide(running(), failure) == [
        TaskFailed(at=9, task_id=T1, error_msg="stopped", duration_ms=7)
    ]


def test_a_lost_task_is_a_failure_and_while_cancelling_it_ends_the_job() -> None:
    lost = RecordLost(at=9, task_id=T1, evidence="404 twice")
    assert decide(running(), lost) == [
        TaskFailed(at=9, task_id=T1, error_msg="404 twice", source="lost")
    ]
    assert decide(submitted(), lost) == [
        TaskFailed(at=9, task_id=T1, error_msg="404 twice", source="lost")
    ]
    assert decide(cancelling(), lost) == [
        TaskFailed(at=9, task_id=T1, error_msg="404 twice", source="lost"),
        JobCancelled(at=9, task_id=T1),
    ]
    assert decide(failed(), lost) == []
    assert decide(submitting(), lost) == []


def test_an_analysis_counts_only_in_failed_and_only_once() -> None:
    assert decide(running(), analysis(9)) == []
    assert decide(retry_wait(), analysis(9)) == []


def test_a_structural_failure_kills_the_job_and_a_transient_one_schedules_a_retry() -> None:
    classified = FailureClassified(
        at=5, task_id=T1, classification="structural", rule="r", reason="why"
    )
    assert decide(failed(), analysis(5, kind="structural")) == [
        classified,
        JobDied(at=5, reason="structural failure: why", rule="r"),
    ]
    transient = RecordAnalysis(
        at=5, task_id=T1, classification="transient", rule="r", reason="why", retry_delay_s=5
    )
    assert decide(failed(), transient) == [
        FailureClassified(at=5, task_id=T1, classification="transient", rule="r", reason="why"),
        RetryScheduled(at=5, next_attempt=2, delay_s=5, not_before=10),
    ]


def test_a_failure_that_does_not_count_is_retried_and_remembered_as_spared() -> None:
    spared = RecordAnalysis(
        at=5,
        task_id=T1,
        classification="transient",
        rule="lost",
        reason="why",
        count_attempt=False,
        max_uncounted=1,
    )
    state, events = run(spared, state=failed())
    assert isinstance(events[0], FailureClassified)
    assert events[0].counted is False
    assert (state.phase, state.uncounted) == ("retry_wait", 1)


def test_a_failure_its_rule_spares_counts_once_the_jobs_spared_budget_is_spent() -> None:
    spared = RecordAnalysis(
        at=5,
        task_id=T1,
        classification="transient",
        rule="lost",
        reason="why",
        count_attempt=False,
        max_uncounted=1,
    )
    state = after(spared, BeginAttempt(at=10), state=failed())
    state = after(
        RecordSubmitted(at=11, task_id=T2),
        RecordStatus(at=12, task_id=T2, status="FAILED", error_msg="lost again"),
        state=state,
    )
    again = RecordAnalysis(
        at=13,
        task_id=T2,
        classification="transient",
        rule="lost",
        reason="why",
        count_attempt=False,
        max_uncounted=1,
    )
    classified = decide(state, again)[0]
    assert isinstance(classified, FailureClassified)
    assert classified.counted is True


def test_a_failed_job_waits_for_its_analysis_from_the_source_of_the_failure() -> None:
    assert next_effect(failed()) == AnalyseFailure(T1, source="status")
    lost = after(RecordLost(at=4, task_id=T1, evidence="gone"), state=running())
    assert next_effect(lost) == AnalyseFailure(T1, source="lost")


# --- cancel and shutdown --------------------------------------------------------------------


def test_a_cancel_with_no_task_in_druid_ends_the_job_at_once() -> None:
    for state in (accepted, failed, retry_wait):
        assert decide(state(), Cancel(at=9, reason="user")) == [
            CancelRequested(at=9, reason="user"),
            JobCancelled(at=9, task_id=None),
        ], state.__name__


def test_a_cancel_during_a_deadline_shutdown_does_not_ask_for_a_second_one() -> None:
    state = after(CheckDeadlines(at=20, running_s=5), state=running())
    assert state.shutdown == "intended"
    assert decide(state, Cancel(at=21, reason="user")) == [CancelRequested(at=21, reason="user")]


def test_a_confirmed_shutdown_of_a_task_already_gone_ends_a_cancelled_job() -> None:
    gone = RecordShutdown(at=9, task_id=T1, http_status=404)
    assert decide(cancelling(), gone) == [
        ShutdownConfirmed(at=9, task_id=T1, http_status=404),
        JobCancelled(at=9, task_id=None),
    ]
    done = RecordShutdown(at=9, task_id=T1, http_status=200)
    assert decide(cancelling(), done) == [ShutdownConfirmed(at=9, task_id=T1, http_status=200)]


def test_a_deadline_shutdown_of_a_task_already_gone_only_confirms_the_shutdown() -> None:
    state = after(CheckDeadlines(at=20, running_s=5), state=running())
    gone = RecordShutdown(at=21, task_id=T1, http_status=404)
    assert decide(state, gone) == [ShutdownConfirmed(at=21, task_id=T1, http_status=404)]


def test_a_shutdown_answer_with_no_shutdown_intended_or_already_confirmed_changes_nothing() -> None:
    answer = RecordShutdown(at=9, task_id=T1, http_status=200)
    assert decide(running(), answer) == []
    confirmed = after(answer, state=cancelling())
    assert confirmed.shutdown == "confirmed"
    assert decide(confirmed, answer) == []
    assert next_effect(confirmed) == WatchTask(T1)


# --- deadlines ------------------------------------------------------------------------------


def test_a_deadline_is_exceeded_only_past_its_limit() -> None:
    state = running()  # running since t=3
    assert decide(state, CheckDeadlines(at=8, running_s=5)) == []
    assert decide(state, CheckDeadlines(at=8.5, running_s=5)) == [
        PhaseDeadlineExceeded(at=8.5, task_id=T1, phase="running", limit_s=5, elapsed_s=5.5),
        ShutdownIntended(at=8.5, task_id=T1, reason="deadline"),
    ]


def test_each_druid_phase_is_held_to_its_own_limit() -> None:
    waiting = after(running_status(3, T1, "WAITING"), state=submitted())
    pending = after(running_status(3, T1, "PENDING"), state=submitted())
    limits = CheckDeadlines(at=10, waiting_s=100, pending_s=5, running_s=100)
    assert decide(waiting, limits) == []
    assert [type(e) for e in decide(pending, limits)] == [PhaseDeadlineExceeded, ShutdownIntended]
    assert decide(running(), CheckDeadlines(at=10, waiting_s=1, pending_s=1)) == []


@pytest.mark.parametrize("state", [submitting, submitted, failed, retry_wait, cancelling])
def test_a_deadline_check_outside_waiting_pending_and_running_changes_nothing(
    state: object,
) -> None:
    assert callable(state)
    assert decide(state(), CheckDeadlines(at=1000, waiting_s=1, pending_s=1, running_s=1)) == []


def test_a_deadline_is_acted_on_once() -> None:
    state = after(CheckDeadlines(at=20, running_s=5), state=running())
    assert decide(state, CheckDeadlines(at=30, running_s=5)) == []


# --- the fold's own guards ------------------------------------------------------------------

REFUSED: list[tuple[object, Event]] = [
    (
        accepted,
        JobAccepted(
            at=9, job_id=JOB, datasource="ds", interval="i", spec=spec_raw({}), spec_hash="h"
        ),
    ),
    (running, SubmitIntended(at=9, attempt=2, task_id=T2)),
    (retry_wait, SubmitIntended(at=9, attempt=1, task_id=T1)),
    (submitting, SubmitDeferred(at=9, attempt=1, task_id=T2, error="e", retry_after_s=1)),
    (running, SubmitDeferred(at=9, attempt=1, task_id=T1, error="e", retry_after_s=1)),
    (submitting, Submitted(at=9, attempt=1, task_id=T2)),
    (running, Submitted(at=9, attempt=1, task_id=T1)),
    (
        submitting,
        SubmitRejected(at=9, attempt=1, task_id=T2, http_status=400, error_code=None, message="no"),
    ),
    (
        running,
        SubmitRejected(at=9, attempt=1, task_id=T1, http_status=400, error_code=None, message="no"),
    ),
    (failed, StatusObserved(at=9, task_id=T1, runner_status="RUNNING")),
    (running, StatusObserved(at=9, task_id=T2, runner_status="RUNNING")),
    (running, StatusObserved(at=9, task_id=T1, runner_status="UNHEARD_OF")),
    (submitting, TaskSucceeded(at=9, task_id=T1, duration_ms=1)),
    (running, TaskSucceeded(at=9, task_id=T2, duration_ms=1)),
    (failed, TaskFailed(at=9, task_id=T1, error_msg="x")),
    (running, TaskFailed(at=9, task_id=T2, error_msg="x")),
    (cancelling, TaskFailed(at=9, task_id=T2, error_msg="x")),
    (
        running,
        FailureClassified(at=9, task_id=T1, classification="transient", rule="r", reason="x"),
    ),
    (running, RetryScheduled(at=9, next_attempt=2, delay_s=1, not_before=10)),
    (failed, RetryScheduled(at=9, next_attempt=3, delay_s=1, not_before=10)),
    (running, JobRetried(at=9)),
    (cancelling, CancelRequested(at=9)),
    (failed, ShutdownIntended(at=9, task_id=T1)),
    (running, ShutdownIntended(at=9, task_id=T2)),
    (cancelling, ShutdownIntended(at=9, task_id=T1)),
    (running, ShutdownConfirmed(at=9, task_id=T1)),
    (cancelling, ShutdownConfirmed(at=9, task_id=T2)),
    (running, JobCancelled(at=9)),
    (failed, PhaseDeadlineExceeded(at=9, task_id=T1, phase="running", limit_s=1, elapsed_s=2)),
    (running, PhaseDeadlineExceeded(at=9, task_id=T2, phase="running", limit_s=1, elapsed_s=2)),
    (succeeded, ActorCrashed(at=9, error="x", restarts=1)),
    (dead, JobDied(at=9, reason="again")),
]


@pytest.mark.parametrize(
    ("state", "event"), REFUSED, ids=lambda x: getattr(x, "__name__", type(x).__name__)
)
def test_the_fold_refuses_an_event_its_phase_does_not_allow(state: object, event: Event) -> None:
    assert callable(state)
    with pytest.raises(InvalidTransitionError):
        evolve(state(), event)


def test_a_task_that_fails_while_being_cancelled_leaves_the_job_cancelling() -> None:
    state = evolve(cancelling(), TaskFailed(at=9, task_id=T1, error_msg="stopped"))
    assert (state.phase, state.last_error, state.finished_at) == ("cancelling", "stopped", 9)


def test_a_cancel_request_of_a_job_with_no_live_task_keeps_its_phase_until_it_ends() -> None:
    state = evolve(retry_wait(), CancelRequested(at=9))
    assert (state.phase, state.cancel_requested) == ("retry_wait", True)
    state = evolve(submitting(), CancelRequested(at=9))
    assert (state.phase, state.cancel_requested) == ("cancelling", True)


def test_a_submission_deferred_waits_and_a_submitted_task_does_not() -> None:
    deferred = after(
        RecordSubmitUnknown(at=2, task_id=T1, error="timeout", retry_after_s=3),
        state=submitting(),
    )
    assert (deferred.submit_not_before, deferred.last_error) == (5, "timeout")
    assert next_effect(deferred) == SubmitTask(T1, not_before=5, confirm_first=True)
    assert after(RecordSubmitted(at=5, task_id=T1), state=deferred).submit_not_before is None


def test_every_phase_but_new_is_listed_for_tables_and_metrics() -> None:
    assert PHASES[0] == "accepted"
    assert "new" not in PHASES
    assert len(PHASES) == 12


def test_a_submission_asks_the_overlord_first_only_when_a_post_of_its_id_may_have_landed() -> None:
    assert next_effect(submitting()) == SubmitTask(T1, confirm_first=False)
    assert next_effect(submitting(), recovered=True) == SubmitTask(T1, confirm_first=True)


def test_only_the_druid_phases_have_a_deadline_each_its_own() -> None:
    limits = CheckDeadlines(at=0, waiting_s=1, pending_s=2, running_s=3)
    deadlines = {phase: phase_deadline(phase, limits) for phase in get_args(Phase)}
    assert {p: d for p, d in deadlines.items() if d is not None} == {
        "waiting": 1,
        "pending": 2,
        "running": 3,
    }


def test_a_dead_job_keeps_the_error_of_its_task_or_else_the_reason_it_died() -> None:
    assert dead().last_error == "boom"
    escalated = after(Escalate(at=1, reason="crashes"), state=accepted())
    assert escalated.last_error == "crashes"
