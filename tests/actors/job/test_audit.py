"""Audit as pure functions over recorded events: FSM replay checks and re-classification
with new rules."""

from __future__ import annotations

from actors.job.audit import replay_problem
from actors.job.rule_replay import _stream_differences
from actors.supervision.classification import Rule, RuleSet
from eventlog.events import (
    Event,
    FailureClassified,
    JobAccepted,
    JobDied,
    RetryScheduled,
    StatusObserved,
    SubmitIntended,
    Submitted,
    TaskFailed,
    TaskSucceeded,
    spec_raw,
)
from eventlog.records import Recorded

JOB = "orch_ds_20240101T000000Z_20240102T000000Z_abc"
TASK = JOB + "_1"


def recorded(events: list[Event], stream: str = "job:" + JOB, first_seq: int = 1) -> list[Recorded]:
    return [
        Recorded(first_seq + i, stream, i + 1, 1_700_000_000.0 + i, e)  # type: ignore[arg-type]
        for i, e in enumerate(events)
    ]


def accepted(max_attempts: int = 3) -> JobAccepted:
    return JobAccepted(
        at=1_700_000_000.0,
        job_id=JOB,
        datasource="ds",
        interval="2024-01-01/2024-01-02",
        spec=spec_raw({}),
        spec_hash="f" * 64,
        max_attempts=max_attempts,
    )


def failed_attempt(classification: str = "transient", rule: str = "lost-worker") -> list[Event]:
    return [
        SubmitIntended(at=1.0, attempt=1, task_id=TASK),
        Submitted(at=2.0, attempt=1, task_id=TASK),
        TaskFailed(at=3.0, task_id=TASK, error_msg="Worker disappeared"),
        FailureClassified(
            at=4.0,
            task_id=TASK,
            classification=classification,  # type: ignore[arg-type]
            rule=rule,
            reason="the worker went away",
            report_excerpt={"source": "status", "status_error": "Worker disappeared"},
        ),
    ]


def test_a_legal_story_replays_without_a_problem() -> None:
    events = [
        accepted(),
        SubmitIntended(at=1.0, attempt=1, task_id=TASK),
        Submitted(at=2.0, attempt=1, task_id=TASK),
        StatusObserved(at=3.0, task_id=TASK, runner_status="RUNNING"),
        TaskSucceeded(at=4.0, task_id=TASK, duration_ms=1000),
    ]
    problem, count, streams, jobs = replay_problem(iter(recorded(events)))
    assert problem is None
    assert (count, streams, jobs) == (5, 1, 1)


def test_an_illegal_transition_is_reported_with_its_seq_stream_and_version() -> None:
    events = [accepted(), TaskSucceeded(at=2.0, task_id=TASK, duration_ms=5)]
    problem, *_ = replay_problem(iter(recorded(events, first_seq=41)))
    assert problem is not None
    assert problem.check == "replay"
    assert (problem.seq, problem.stream_id, problem.version) == (42, "job:" + JOB, 2)
    assert "can't apply TaskSucceeded when phase='accepted'" in problem.message


def test_an_event_after_a_terminal_one_is_illegal() -> None:
    events = [
        accepted(),
        JobDied(at=1.0, reason="structural"),
        SubmitIntended(at=2.0, attempt=1, task_id=TASK),
    ]
    problem, *_ = replay_problem(iter(recorded(events)))
    assert problem is not None
    assert problem.version == 3


def test_a_gap_in_a_streams_versions_is_reported() -> None:
    rows = recorded([accepted(), SubmitIntended(at=1.0, attempt=1, task_id=TASK)])
    rows[1] = Recorded(rows[1].seq, rows[1].stream_id, 5, rows[1].recorded_at, rows[1].event)
    problem, *_ = replay_problem(iter(rows))
    assert problem is not None
    assert "jumps from version 1 to 5" in problem.message


def structural_for(message: str) -> RuleSet:
    return RuleSet(rule=[Rule(name="new-rule", classification="structural", message=[message])])


def test_new_rules_that_would_stop_a_retried_failure_are_a_changed_decision() -> None:
    events = [
        accepted(),
        *failed_attempt(),
        RetryScheduled(at=4.0, next_attempt=2, delay_s=1.0, not_before=5.0),
    ]
    (difference,) = list(
        _stream_differences("job:" + JOB, recorded(events), structural_for("Worker"), None)
    )
    assert difference is not None
    assert difference.decision_changed
    assert (difference.recorded.decision, difference.replayed.decision) == ("retry", "dead")
    assert difference.replayed.rule == "new-rule"
    assert difference.attempt == 1


def test_rules_that_decide_the_same_way_report_nothing() -> None:
    events = [
        accepted(),
        *failed_attempt(rule="default"),
        RetryScheduled(at=4.0, next_attempt=2, delay_s=1.0, not_before=5.0),
    ]
    differences = list(_stream_differences("job:" + JOB, recorded(events), RuleSet(), None))
    assert differences == [None]


def test_a_lower_attempt_limit_turns_a_retry_into_dead() -> None:
    events = [
        accepted(max_attempts=3),
        *failed_attempt(rule="default"),
        RetryScheduled(at=4.0, next_attempt=2, delay_s=1.0, not_before=5.0),
    ]
    (difference,) = list(
        _stream_differences("job:" + JOB, recorded(events), RuleSet(), max_attempts=1)
    )
    assert difference is not None
    assert difference.replayed.classification == "transient"
    assert difference.replayed.decision == "dead"


def test_rules_that_spare_lost_workers_turn_a_dead_end_into_a_retry() -> None:
    events = [
        accepted(max_attempts=1),
        *failed_attempt(rule="lost-worker"),
        JobDied(
            at=4.0, reason="transient failure, but all 1 attempts are used", rule="lost-worker"
        ),
    ]
    sparing = RuleSet(
        rule=[
            Rule(
                name="worker-gone",
                classification="transient",
                message=["Worker disappeared"],
                count_attempt=False,
            )
        ]
    )
    (difference,) = list(_stream_differences("job:" + JOB, recorded(events), sparing, None))
    assert difference is not None
    assert (difference.recorded.decision, difference.replayed.decision) == ("dead", "retry")
    # With no failures to spare, the same rules decide as before.
    (same,) = list(
        _stream_differences("job:" + JOB, recorded(events), sparing, None, max_uncounted=0)
    )
    assert same is not None
    assert not same.decision_changed
