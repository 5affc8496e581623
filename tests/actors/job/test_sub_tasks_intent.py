"""Sub-task parallelism chosen at admission: recorded with the intent, folded into the state,
sent by every POST of the attempt (never chosen afresh), shown in the view and the history;
the job's identity never depends on it."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.job.audit import intent_story
from actors.job.evolve import fold
from actors.job.fsm import decide
from actors.job.messages import (
    Accept,
    BeginAttempt,
    Escalate,
    RecordAnalysis,
    RecordStatus,
    RecordSubmitted,
    Retry,
)
from actors.job.state import JobState
from actors.job.stream import JOB_FOLDER, attempt_body, task_body
from actors.job.sub_tasks import SubTaskBounds, sub_task_bounds
from actors.job.view import JobView
from actors.supervision.slots import claim_of
from eventlog.decoding import decode_body
from eventlog.events import SubmitIntended, SubTasksRecord, spec_dict, spec_raw
from eventlog.records import Recorded
from service.cli.audit import render_timeline
from specs.compiler import builtin_template, compile_job, task_id_for
from specs.intervals import Interval

CHOSEN = SubTasksRecord(m=3, capacity=16, free=7, waiting=2, ceiling=4)


def compiled(m: int | None = None) -> Any:
    day = Interval.parse("2024-01-01/2024-01-02")
    return compile_job(builtin_template(), day, max_sub_tasks=m)


def accepted() -> JobState:
    job = compiled()
    accept = Accept(
        at=1.0,
        job_id=job.job_id,
        datasource=job.datasource,
        interval=job.interval,
        spec=job.spec_json,
        spec_hash=job.spec_hash,
        max_attempts=3,
    )
    return fold(decide(JobState(), accept))


def m_of(body: msgspec.Raw) -> int:
    return int(spec_dict(body)["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"])


def test_the_chosen_m_is_recorded_with_the_intent_and_sent_by_every_post() -> None:
    state = accepted()
    [intent] = decide(state, BeginAttempt(at=2.0, sub_tasks=CHOSEN))
    assert intent == SubmitIntended(
        at=2.0, attempt=1, task_id=task_id_for(state.job_id, 1), sub_tasks=CHOSEN
    )
    after = fold([intent], state)
    assert after.sub_tasks == CHOSEN
    body = attempt_body(after)
    assert m_of(body) == 3
    assert spec_dict(body)["id"] == task_id_for(state.job_id, 1)
    # A re-POST after a crash: the state folded back from the log says the same.
    replayed = fold([intent], accepted())
    assert attempt_body(replayed) == body
    assert JOB_FOLDER.decode(JOB_FOLDER.encode(after)).sub_tasks == CHOSEN  # snapshots too


def test_the_job_and_task_ids_do_not_depend_on_m() -> None:
    assert compiled(2).job_id == compiled(4).job_id == compiled().job_id


def test_an_intent_without_a_choice_sends_the_compiled_spec_untouched() -> None:
    state = fold(decide(accepted(), BeginAttempt(at=2.0)), accepted())
    assert state.sub_tasks is None
    assert m_of(attempt_body(state)) == m_of(compiled().spec_json)
    assert bytes(attempt_body(state)).startswith(b'{"id":')  # the fast path: not re-encoded


def test_a_retry_attempt_records_its_own_choice() -> None:
    state = fold(decide(accepted(), BeginAttempt(at=2.0, sub_tasks=CHOSEN)), accepted())
    tid = task_id_for(state.job_id, 1)
    for command in (
        RecordSubmitted(at=3.0, task_id=tid),
        RecordStatus(at=4.0, task_id=tid, status="FAILED"),
        RecordAnalysis(at=5.0, task_id=tid, classification="transient", rule="r", reason="x"),
    ):
        state = fold(decide(state, command), state)
    assert state.phase == "retry_wait"
    again = msgspec.structs.replace(CHOSEN, m=1, free=2)
    [intent] = decide(state, BeginAttempt(at=9.0, sub_tasks=again))
    state = fold([intent], state)
    assert (state.attempt, state.sub_tasks) == (2, again)
    assert m_of(attempt_body(state)) == 1


def test_a_person_retry_of_a_job_that_died_with_its_task_live_looks_it_up_with_its_m() -> None:
    state = fold(decide(accepted(), BeginAttempt(at=2.0, sub_tasks=CHOSEN)), accepted())
    state = fold(decide(state, Escalate(at=3.0, reason="restarts")), state)
    state = fold(decide(state, Retry(at=4.0)), state)
    assert (state.phase, state.attempt, state.sub_tasks) == ("submitting", 1, CHOSEN)
    assert m_of(attempt_body(state)) == 3


def test_stored_intents_from_before_the_choice_still_decode_and_fold() -> None:
    row = b'{"type":"submit_intended","at":2.0,"attempt":1,"task_id":"t1"}'
    old = decode_body((1, "job:j", 2, 2.0, row))
    assert isinstance(old, SubmitIntended)
    assert old.sub_tasks is None


def test_compact_tasks_carry_m_in_their_top_level_tuning_config() -> None:
    compact = {
        "type": "compact",
        "dataSource": "clicks",
        "tuningConfig": {"type": "index_parallel", "maxNumConcurrentSubTasks": 4},
    }
    body = spec_dict(task_body(spec_raw(compact), "t2", None, 2))
    assert body["tuningConfig"]["maxNumConcurrentSubTasks"] == 2
    assert body["id"] == "t2"
    assert sub_task_bounds(spec_raw(compact)) == SubTaskBounds(ceiling=4)
    assert claim_of(spec_raw(compact)) == 5


def test_range_partitioning_has_a_floor_of_two() -> None:
    ranged = {
        "type": "index_parallel",
        "spec": {
            "tuningConfig": {
                "type": "index_parallel",
                "maxNumConcurrentSubTasks": 6,
                "partitionsSpec": {"type": "range", "partitionDimensions": ["a"]},
            }
        },
    }
    assert sub_task_bounds(spec_raw(ranged)) == SubTaskBounds(ceiling=6, floor=2)
    assert sub_task_bounds(spec_raw({"type": "index", "spec": {}})) is None


def test_the_view_and_the_history_say_the_m_and_why() -> None:
    state = fold(decide(accepted(), BeginAttempt(at=2.0, sub_tasks=CHOSEN)), accepted())
    view = JobView.of(state)
    assert view.sub_tasks == 3
    assert view.sub_tasks_reason == "m=3: 7 of 16 slots free, 2 jobs waiting"
    intent = SubmitIntended(at=2.0, attempt=1, task_id="t1", sub_tasks=CHOSEN)
    assert intent_story(intent) == "sub-tasks m=3: 7 of 16 slots free, 2 jobs waiting"
    [line] = render_timeline([Recorded(2, "job:j", 2, 2.0, intent)])
    assert line.endswith("attempt=1  task_id=t1  sub-tasks m=3: 7 of 16 slots free, 2 jobs waiting")


def test_listed_inputs_bound_m_by_their_splits() -> None:
    def most(source: dict[str, Any]) -> int:
        tuning = {"type": "index_parallel", "maxNumConcurrentSubTasks": 8}
        io = {"type": "index_parallel", "inputSource": source}
        spec = {"type": "index_parallel", "spec": {"tuningConfig": tuning, "ioConfig": io}}
        bounds = sub_task_bounds(spec_raw(spec))
        assert bounds is not None
        assert bounds.ceiling == 8
        return bounds.most

    assert most({"type": "s3", "uris": ["s3://a", "s3://b", "s3://c"]}) == 3
    assert most({"type": "inline", "data": "x"}) == 1
    assert most({"type": "local", "baseDir": "/d", "files": ["/a"]}) == 8  # a directory too
    assert most({"type": "s3", "prefixes": ["s3://p/"]}) == 8
    assert most({"type": "druid", "dataSource": "d"}) == 8
