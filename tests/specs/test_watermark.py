"""The streaming watermark, from the documented supervisor status payloads, and clipping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from specs.compiler import builtin_template, compile_range
from specs.errors import WatermarkError
from specs.intervals import Interval, parse_instant
from specs.watermark import Watermark, clip_to_watermark, streaming_watermark

RESPONSES = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api" / "responses"
ACTIVE = "index_kafka_social_media_ab72ae4127c591c_flcbhdlh"
PUBLISHING = "index_kafka_social_media_9c1e2d7f0a3b4c5_gmojkpea"


def response(name: str) -> Any:
    return json.loads((RESPONSES / f"{name}.json").read_text())


def supervisor(**io: Any) -> dict[str, Any]:
    return {"type": "kafka", "spec": {"ioConfig": {"topic": "social_media", **io}}}


def task(task_id: str, minimum: str | None) -> dict[str, Any]:
    payload = {"type": "index_kafka", "id": task_id, "ioConfig": {"minimumMessageTime": minimum}}
    return {"task": task_id, "payload": payload}


def at(text: str) -> datetime:
    return parse_instant(text)


def test_a_fixed_rejection_date_is_the_watermark() -> None:
    mark = streaming_watermark(
        response("supervisor_status_kafka_200"),
        supervisor_spec=supervisor(lateMessageRejectionStartDateTime="2023-07-01T00:00:00Z"),
    )
    assert mark == Watermark(at("2023-07-01"), "late-rejection-start", mark.detail)


def test_the_earliest_minimum_message_time_of_reading_and_publishing_tasks_wins() -> None:
    mark = streaming_watermark(
        response("supervisor_status_kafka_200"),
        supervisor_spec=supervisor(lateMessageRejectionPeriod="PT1H"),
        task_payloads=[
            task(ACTIVE, "2023-07-05T22:21:00.000Z"),
            task(PUBLISHING, "2023-07-05T21:20:00.000Z"),
        ],
    )
    assert (mark.at, mark.source) == (at("2023-07-05T21:20:00Z"), "task-minimum-message-time")


def test_a_rejection_period_without_the_tasks_bounds_is_refused() -> None:
    with pytest.raises(WatermarkError) as caught:
        streaming_watermark(
            response("supervisor_status_kafka_200"),
            supervisor_spec=supervisor(lateMessageRejectionPeriod="PT1H"),
            task_payloads=[task(ACTIVE, "2023-07-05T22:21:00.000Z")],
        )
    assert caught.value.rule == "task-bounds-unknown"
    assert PUBLISHING in caught.value.detail
    assert ACTIVE not in caught.value.detail


def test_a_task_without_a_minimum_message_time_gives_no_bound() -> None:
    with pytest.raises(WatermarkError):
        streaming_watermark(
            response("supervisor_status_kafka_docs_sample"),
            supervisor_spec=supervisor(lateMessageRejectionPeriod="PT1H"),
            task_payloads=[task(ACTIVE, None)],
        )


def test_start_times_give_a_bound_when_the_caller_bounds_the_start_delay() -> None:
    mark = streaming_watermark(
        response("supervisor_status_kafka_200"),
        supervisor_spec=supervisor(lateMessageRejectionPeriod="PT1H"),
        max_start_delay=timedelta(minutes=10),
    )
    # The publishing task started first, at 22:21:38.117.
    assert (mark.at, mark.source) == (at("2023-07-05T21:11:38.117Z"), "task-start-time")


def test_with_no_task_running_new_tasks_reject_rows_older_than_now_minus_the_period() -> None:
    mark = streaming_watermark(
        response("supervisor_status_unhealthy_200"),
        supervisor_spec={"type": "kafka", "ioConfig": {"lateMessageRejectionPeriod": "P1D"}},
    )
    assert (mark.at, mark.source) == (at("2025-11-02T12:10:00.004Z"), "late-rejection-period")


def test_a_supervisor_that_accepts_rows_of_any_age_has_no_watermark() -> None:
    with pytest.raises(WatermarkError) as caught:
        streaming_watermark(response("supervisor_status_kafka_200"), supervisor_spec=supervisor())
    assert caught.value.rule == "no-rejection-window"
    assert "allowed_lateness" in caught.value.detail


def test_an_asserted_lateness_uses_the_kinesis_time_lag() -> None:
    mark = streaming_watermark(
        response("supervisor_status_kinesis_200"),
        supervisor_spec={"type": "kinesis", "spec": {"ioConfig": {"stream": "metrics"}}},
        allowed_lateness=timedelta(minutes=30),
    )
    assert (mark.at, mark.source) == (at("2025-11-03T11:30:02.820Z"), "time-lag")


def test_kafka_time_lag_is_measured_from_when_offsets_were_last_updated() -> None:
    mark = streaming_watermark(
        response("supervisor_status_kafka_time_lag_200"),
        allowed_lateness=timedelta(minutes=5),
    )
    assert mark.at == at("2023-07-05T23:24:30.212Z") - timedelta(milliseconds=1250, minutes=5)


def test_without_time_lag_the_handed_off_coverage_is_the_progress() -> None:
    mark = streaming_watermark(
        response("supervisor_status_kafka_200"),
        coverage=response("coordinator_datasource_simple_200"),
        allowed_lateness=timedelta(hours=1),
    )
    assert (mark.at, mark.source) == (at("2015-09-12T23:00:00Z"), "handed-off-coverage")


def test_an_asserted_lateness_without_any_progress_signal_is_refused() -> None:
    with pytest.raises(WatermarkError) as caught:
        streaming_watermark(
            response("supervisor_status_kafka_200"), allowed_lateness=timedelta(hours=1)
        )
    assert caught.value.rule == "progress-unknown"


def test_now_can_be_given_instead_of_the_generation_time() -> None:
    status = response("supervisor_status_unhealthy_200")["payload"]
    spec = supervisor(lateMessageRejectionPeriod="PT2H")
    with pytest.raises(WatermarkError) as caught:
        streaming_watermark(status, supervisor_spec=spec)
    assert caught.value.rule == "watermark-input"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert streaming_watermark(status, supervisor_spec=spec, now=now).at == now - timedelta(hours=2)


def test_clipping_cuts_the_range_at_the_watermark_aligned_down() -> None:
    mark = at("2024-01-05T13:30:00Z")
    assert clip_to_watermark(Interval.parse("2024-01-01/2024-01-10"), mark, "DAY") == (
        Interval.parse("2024-01-01/2024-01-05")
    )
    assert clip_to_watermark(Interval.parse("2024-01-01/2024-01-10"), mark, "HOUR") == (
        Interval.parse("2024-01-01/2024-01-05T13:00:00Z")
    )
    before = Interval.parse("2023-12-01/2024-01-01")
    assert clip_to_watermark(before, mark, "DAY") == before


def test_a_range_wholly_past_the_watermark_is_refused() -> None:
    with pytest.raises(WatermarkError) as caught:
        clip_to_watermark(Interval.parse("2024-01-05/2024-01-06"), at("2024-01-05T23:00Z"), "DAY")
    assert (caught.value.path, caught.value.rule) == ("$.interval", "range-after-watermark")


def test_compiling_a_range_up_to_a_watermark_compiles_only_the_safe_days() -> None:
    mark = Watermark(at("2024-01-03T08:00:00Z"), "late-rejection-start", "test")
    jobs = compile_range(
        builtin_template(), Interval.parse("2024-01-01/2024-01-08"), watermark=mark
    )
    assert [j.interval for j in jobs] == [
        "2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        "2024-01-02T00:00:00.000Z/2024-01-03T00:00:00.000Z",
    ]
