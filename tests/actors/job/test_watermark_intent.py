"""The pure half of the watermark: an attempt's interval and watermark recorded with its intent,
folded into the state, sent in the task body, told by `audit history`; old rows still read."""

from __future__ import annotations

from typing import Any

import msgspec

from actors.job.audit import intent_story
from actors.job.evolve import fold
from actors.job.fsm import decide
from actors.job.messages import Accept, BeginAttempt, RecordAnalysis, RecordStatus, RecordSubmitted
from actors.job.state import JobState
from actors.job.stream import task_body
from actors.job.task_interval import segment_granularity
from actors.job.view import hold_reason
from eventlog.decoding import decode_body
from eventlog.events import JobAccepted, SubmitIntended, WatermarkRecord, spec_dict, spec_raw
from eventlog.records import Recorded
from service.cli.audit import render_timeline
from specs.compiler import task_id_for

JOB = "orch_clicks_20240301T000000Z_20240306T000000Z_abcdefabcdef"
OWN = "2024-03-01T00:00:00.000Z/2024-03-06T00:00:00.000Z"
CLIPPED = "2024-03-01T00:00:00.000Z/2024-03-05T00:00:00.000Z"
MARK = WatermarkRecord(
    at="2024-03-05T09:30:00.000Z",
    aligned="2024-03-05T00:00:00.000Z",
    source="task-minimum-message-time",
    detail="earliest minimumMessageTime of 2 streaming task(s)",
    supervisors=("clicks",),
)
PARALLEL: dict[str, Any] = {
    "type": "index_parallel",
    "spec": {
        "dataSchema": {
            "dataSource": "clicks",
            "granularitySpec": {"segmentGranularity": "day", "intervals": [OWN]},
        },
        "ioConfig": {
            "type": "index_parallel",
            "inputSource": {"type": "druid", "dataSource": "clicks", "interval": OWN},
        },
    },
}


def accepted(spec: dict[str, Any] = PARALLEL) -> JobState:
    accept = Accept(
        at=1.0,
        job_id=JOB,
        datasource="clicks",
        interval=OWN,
        spec=spec_raw(spec),
        spec_hash="h",
        max_attempts=3,
        watermark_from="clicks-eu",
    )
    return fold(decide(JobState(), accept))


def test_the_clipped_interval_and_the_watermark_are_recorded_with_the_intent() -> None:
    state = accepted()
    assert state.watermark_from == "clicks-eu"
    [intent] = decide(state, BeginAttempt(at=2.0, interval=CLIPPED, watermark=MARK))
    assert intent == SubmitIntended(
        at=2.0, attempt=1, task_id=task_id_for(JOB, 1), interval=CLIPPED, watermark=MARK
    )
    after = fold([intent], state)
    assert after.submit_interval == CLIPPED
    assert after.interval == OWN, "the job's own interval (and so its identity) is unchanged"


def test_a_retry_attempt_records_its_own_decision_and_keeps_its_task_id_scheme() -> None:
    state = fold(
        decide(accepted(), BeginAttempt(at=2.0, interval=CLIPPED, watermark=MARK)), accepted()
    )
    for command in (
        RecordSubmitted(at=3.0, task_id=task_id_for(JOB, 1)),
        RecordStatus(at=4.0, task_id=task_id_for(JOB, 1), status="FAILED"),
        RecordAnalysis(
            at=5.0, task_id=task_id_for(JOB, 1), classification="transient", rule="r", reason="x"
        ),
    ):
        state = fold(decide(state, command), state)
    assert state.phase == "retry_wait"
    [intent] = decide(state, BeginAttempt(at=9.0))  # the watermark has passed the job's end
    assert (intent.attempt, intent.task_id, intent.interval) == (2, task_id_for(JOB, 2), None)
    assert fold([intent], state).submit_interval is None


def test_stored_rows_from_before_the_watermark_still_decode_with_the_defaults() -> None:
    intent = b'{"type":"submit_intended","at":2.0,"attempt":1,"task_id":"t1"}'
    accepted_row = (
        b'{"type":"job_accepted","at":1.0,"job_id":"j","datasource":"d","interval":"'
        + OWN.encode()
        + b'","spec":{"type":"index"},"spec_hash":"h"}'
    )
    old = decode_body((1, "job:j", 2, 2.0, intent))
    assert old == SubmitIntended(at=2.0, attempt=1, task_id="t1")
    assert (old.interval, old.watermark) == (None, None)
    job = decode_body((0, "job:j", 1, 1.0, accepted_row))
    assert isinstance(job, JobAccepted)
    assert job.watermark_from is None
    state = fold([job, old])
    assert (state.phase, state.submit_interval, state.watermark_from) == ("submitting", None, None)


def test_the_task_body_sends_the_recorded_interval_wherever_the_task_names_it() -> None:
    raw = spec_raw(PARALLEL)
    assert bytes(task_body(raw, "t1")) == b'{"id":"t1",' + bytes(raw)[1:]
    body = spec_dict(task_body(raw, "t1", CLIPPED))
    assert body["id"] == "t1"
    assert body["spec"]["dataSchema"]["granularitySpec"]["intervals"] == [CLIPPED]
    assert body["spec"]["ioConfig"]["inputSource"]["interval"] == CLIPPED
    compact = {
        "type": "compact",
        "dataSource": "clicks",
        "interval": OWN,
        "ioConfig": {"type": "compact", "inputSpec": {"type": "interval", "interval": OWN}},
        "granularitySpec": {"segmentGranularity": "HOUR"},
    }
    body = spec_dict(task_body(spec_raw(compact), "t2", CLIPPED))
    assert body["interval"] == CLIPPED
    assert body["ioConfig"]["inputSpec"]["interval"] == CLIPPED
    assert segment_granularity(spec_raw(compact)) == "HOUR"
    assert segment_granularity(spec_raw(PARALLEL)) == "DAY"
    assert segment_granularity(spec_raw({"type": "index_parallel", "spec": {}})) is None
    assert segment_granularity(msgspec.Raw(b"[1]")) is None
    everything = {"type": "compact", "granularitySpec": {"segmentGranularity": "ALL"}}
    assert segment_granularity(spec_raw(everything)) is None


def test_audit_history_tells_why_the_interval_ends_where_it_does() -> None:
    clipped = SubmitIntended(at=2.0, attempt=1, task_id="t1", interval=CLIPPED, watermark=MARK)
    assert intent_story(clipped) == (
        "interval 2024-03-01/2024-03-05 clipped at the streaming watermark 2024-03-05T00:00Z "
        "(2024-03-05T09:30Z aligned down to the segment granularity) (rule "
        "task-minimum-message-time: earliest minimumMessageTime of 2 streaming task(s); "
        "supervisors clicks)"
    )
    whole = SubmitIntended(at=2.0, attempt=1, task_id="t1", watermark=MARK)
    assert (intent_story(whole) or "").startswith(
        "interval: the job's own, wholly before the streaming watermark 2024-03-05T00:00Z"
    )
    assert intent_story(SubmitIntended(at=2.0, attempt=1, task_id="t1")) is None


def test_the_job_view_says_the_watermark_holds_it_after_the_breakers_and_before_the_slots() -> None:
    state = accepted()
    wait = "waiting for the streaming watermark (now 2024-03-05T10:00Z) to pass 2024-03-06T00:00Z"
    assert hold_reason(state, {}, watermark=wait, slots="slots") == wait
    assert hold_reason(state, {}, True, watermark=wait).startswith("the Overlord circuit breaker")
    assert hold_reason(state, {}, slots="slots") == "slots"


def test_the_history_line_of_a_clipped_intent_tells_the_story_instead_of_the_raw_fields() -> None:
    clipped = SubmitIntended(at=2.0, attempt=1, task_id="t1", interval=CLIPPED, watermark=MARK)
    [line] = render_timeline([Recorded(2, "job:j", 2, 2.0, clipped)])
    assert "submit_intended" in line
    assert "attempt=1  task_id=t1  interval 2024-03-01/2024-03-05 clipped at" in line
    assert "watermark=" not in line
    assert line.endswith("supervisors clicks)")


def test_instants_in_hold_reasons_read_to_the_minute_and_never_later_than_computed() -> None:
    from datetime import UTC, datetime

    from actors.job.task_interval import short_instant

    assert short_instant(datetime(2024, 3, 5, 10, 0, tzinfo=UTC)) == "2024-03-05T10:00Z"
    assert short_instant(datetime(2024, 3, 5, 10, 7, 59, 999000, tzinfo=UTC)) == "2024-03-05T10:07Z"
