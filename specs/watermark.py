"""The streaming watermark: the time before which a live supervisor can no longer write.

Druid has no event-time watermark (REFERENCE.md section 9.3), so this module builds one from
what it does expose, and refuses when nothing it sees makes a bound safe. A batch job that
replaces an interval a streaming task still appends to would overlap it; refusing costs a
delay, overlapping costs data.

The bound, in order of preference (each is a time T such that no streaming task will write a
row with `__time < T`):

1. `lateMessageRejectionStartDateTime` in the supervisor's ioConfig: every task rejects rows
   before that fixed time.
2. `lateMessageRejectionPeriod` P with the `minimumMessageTime` of every reading and
   publishing task (from `GET /task/{id}`, the bound Druid enforces): T is the earliest of
   them, and never later than `now - P`, the bound of tasks created from now on.
3. P with no task reading or publishing: T = `now - P`.
4. P with the tasks' `startTime` from the status and a caller's `max_start_delay` (the
   longest a task waits between the supervisor creating it, which fixes its bound, and it
   starting): T = earliest start (or now, for a task not started) - `max_start_delay` - P.
5. No rejection window, but the caller asserts rows are never more than `allowed_lateness`
   late: T = progress - `allowed_lateness`, where progress is the time streaming has read up
   to (`offsetsLastUpdated` - the largest `minimumLagMillis`), or else the end of handed-off
   data (`segments.maxTime` from the Coordinator).

Otherwise there is no safe watermark and `WatermarkError` says why. `now` defaults to the
status's `generationTime`, so the result is a pure function of the payloads given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec

from specs.errors import IntervalError, WatermarkError
from specs.intervals import (
    Interval,
    Period,
    check_granularity,
    floor,
    format_instant,
    parse_instant,
)

__all__ = ["Watermark", "clip_to_watermark", "streaming_watermark"]


class Watermark(msgspec.Struct, frozen=True):
    """Streaming writes no rows before `at`; `source` names the signal, `detail` the values."""

    at: datetime
    source: str
    detail: str


def streaming_watermark(
    status: Mapping[str, Any],
    *,
    supervisor_spec: Mapping[str, Any] | None = None,
    task_payloads: Iterable[Mapping[str, Any]] = (),
    coverage: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    max_start_delay: timedelta | None = None,
    allowed_lateness: timedelta | None = None,
) -> Watermark:
    """The time before which the supervisor can no longer write (see the module docstring).

    Args:
        status: `GET /supervisor/{id}/status` (the whole response, or its `payload`).
        supervisor_spec: `GET /supervisor/{id}` (nested or flat form), for its ioConfig.
        task_payloads: `GET /task/{id}` responses (or their `payload`) of the streaming tasks.
        coverage: `GET /druid/coordinator/v1/datasources/{ds}`, for `segments.maxTime`.
        now: the current time; defaults to the status's `generationTime`.
        max_start_delay: an upper bound on a task's wait between creation and start.
        allowed_lateness: how late (in event time) rows may arrive, when no rejection
            window is configured; an assertion by the caller.

    Raises:
        WatermarkError: no signal gives a safe bound; the message says what is missing.
    """
    payload = status.get("payload", status)
    if now is None:
        now = _required_time(status.get("generationTime"), "$.generationTime")
    io = _io_config(supervisor_spec)
    start_at = _time(
        io.get("lateMessageRejectionStartDateTime"), "$.ioConfig.lateMessageRejectionStartDateTime"
    )
    if start_at is not None:
        return Watermark(start_at, "late-rejection-start", "lateMessageRejectionStartDateTime")
    period_text = io.get("lateMessageRejectionPeriod")
    if isinstance(period_text, str):
        return _from_period(payload, period_text, now, task_payloads, max_start_delay)
    if allowed_lateness is not None:
        return _from_progress(payload, coverage, now, allowed_lateness)
    raise WatermarkError(
        "the supervisor accepts late rows of any age (no lateMessageRejectionPeriod or "
        "lateMessageRejectionStartDateTime in its ioConfig), so streaming may still write into "
        "any past interval; configure a rejection window, or pass allowed_lateness to assert "
        "how late rows can arrive",
        path="$.ioConfig.lateMessageRejectionPeriod",
        rule="no-rejection-window",
    )


def _from_period(
    payload: Mapping[str, Any],
    period_text: str,
    now: datetime,
    task_payloads: Iterable[Mapping[str, Any]],
    max_start_delay: timedelta | None,
) -> Watermark:
    try:
        period = Period.parse(period_text)
    except IntervalError as exc:
        raise WatermarkError(
            exc.detail, path="$.ioConfig.lateMessageRejectionPeriod", rule="watermark-input"
        ) from exc
    future = _minus(now, period)
    # Publishing tasks read nothing new, but still hold rows they have yet to publish.
    tasks = [*(payload.get("activeTasks") or []), *(payload.get("publishingTasks") or [])]
    if not tasks:
        detail = f"no task is reading or publishing; now - {period_text}"
        return Watermark(future, "late-rejection-period", detail)
    bounds = _task_bounds(task_payloads)
    missing = [str(task.get("id")) for task in tasks if task.get("id") not in bounds]
    if not missing:
        earliest = min(bounds[str(task["id"])] for task in tasks)
        return Watermark(
            min(earliest, future),
            "task-minimum-message-time",
            f"earliest minimumMessageTime of {len(tasks)} streaming task(s)",
        )
    if max_start_delay is not None:
        starts = [
            _time(task.get("startTime"), f"task {task.get('id')} startTime") or now
            for task in tasks
        ]
        created = min(min(starts), now) - max_start_delay
        return Watermark(
            min(_minus(created, period), future),
            "task-start-time",
            f"earliest task start - max_start_delay {max_start_delay} - {period_text}",
        )
    raise WatermarkError(
        "lateMessageRejectionPeriod fixes each task's bound when the supervisor creates the "
        f"task, which the status does not show; no minimumMessageTime for task(s) "
        f"{', '.join(missing)}. Pass their payloads (GET /druid/indexer/v1/task/{{id}}) or a "
        "max_start_delay",
        path="$.payload.activeTasks",
        rule="task-bounds-unknown",
    )


def _task_bounds(task_payloads: Iterable[Mapping[str, Any]]) -> dict[str, datetime]:
    bounds: dict[str, datetime] = {}
    for item in task_payloads:
        task = item.get("payload", item)
        task_id = task.get("id")
        bound = (task.get("ioConfig") or {}).get("minimumMessageTime")
        if isinstance(task_id, str) and bound is not None:
            moment = _time(bound, f"task {task_id} ioConfig.minimumMessageTime")
            if moment is not None:
                bounds[task_id] = moment
    return bounds


def _from_progress(
    payload: Mapping[str, Any],
    coverage: Mapping[str, Any] | None,
    now: datetime,
    lateness: timedelta,
) -> Watermark:
    lags = payload.get("minimumLagMillis")
    if isinstance(lags, Mapping) and lags:
        reference = _time(payload.get("offsetsLastUpdated"), "$.payload.offsetsLastUpdated") or now
        try:
            worst = max(max(0, int(lag)) for lag in lags.values())
        except (TypeError, ValueError) as exc:
            raise WatermarkError(
                f"minimumLagMillis holds a value that is not a number: {lags}",
                path="$.payload.minimumLagMillis",
                rule="watermark-input",
            ) from exc
        progress = reference - timedelta(milliseconds=worst)
        detail = f"read up to {format_instant(progress)} (largest lag {worst} ms)"
        return Watermark(progress - lateness, "time-lag", f"{detail} - {lateness}")
    segments = (coverage or {}).get("segments") or {}
    handed_off = segments.get("maxTime")
    if handed_off is not None:
        end = _required_time(handed_off, "$.segments.maxTime")
        return Watermark(end - lateness, "handed-off-coverage", f"segments.maxTime - {lateness}")
    raise WatermarkError(
        "allowed_lateness needs the stream's progress: the status has no minimumLagMillis "
        "(Kafka reports it only with emitTimeLagMetrics) and no Coordinator coverage "
        "(segments.maxTime) was given",
        path="$.payload.minimumLagMillis",
        rule="progress-unknown",
    )


def clip_to_watermark(
    interval: Interval, watermark: Watermark | datetime, segment_granularity: str
) -> Interval:
    """`interval` cut to end at the watermark, aligned down to the segment granularity.

    Raises:
        WatermarkError: nothing of `interval` lies before the aligned watermark.
    """
    at = watermark.at if isinstance(watermark, Watermark) else watermark
    granularity = check_granularity(segment_granularity)
    limit = floor(at, granularity)
    if interval.end <= limit:
        return interval
    if limit <= interval.start:
        raise WatermarkError(
            f"range {interval} starts at or after the streaming watermark {format_instant(at)} "
            f"(aligned down to {granularity}: {format_instant(limit)}); ingesting any of it "
            "could overlap rows streaming may still write",
            path="$.interval",
            rule="range-after-watermark",
        )
    return Interval(interval.start, limit)


def _io_config(spec: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if spec is None:
        return {}
    nested = spec.get("spec")
    if isinstance(nested, Mapping) and isinstance(nested.get("ioConfig"), Mapping):
        io: Mapping[str, Any] = nested["ioConfig"]
        return io
    flat = spec.get("ioConfig")
    return flat if isinstance(flat, Mapping) else {}


def _required_time(value: Any, what: str) -> datetime:
    moment = _time(value, what)
    if moment is None:
        raise WatermarkError(
            f"{what} is missing; pass now= explicitly", path=what, rule="watermark-input"
        )
    return moment


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(str(value))
    except IntervalError as exc:
        raise WatermarkError(
            f"{what} is not an ISO-8601 time: {value!r}", path=what, rule="watermark-input"
        ) from exc


def _minus(moment: datetime, period: Period) -> datetime:
    return period.subtract_from(moment)
