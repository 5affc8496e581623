"""Where a task JSON keeps its interval and its segment granularity.

An attempt clipped at the streaming watermark POSTs the job's spec with another interval; the
places Druid reads it from differ by task type (REFERENCE §11): an ingestion task's
`granularitySpec.intervals` (and a `druid` input source's own `interval`), a compaction
task's `ioConfig.inputSpec.interval` or its older top-level `interval`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from specs.errors import IntervalError
from specs.intervals import check_granularity, format_instant

__all__ = ["segment_granularity", "set_interval", "short_instant"]


class _Granularity(msgspec.Struct):
    # A string for Druid's named granularities; an object (`{"type": "period", ...}`) is not
    # one the watermark can be aligned to here.
    segmentGranularity: Any = None  # Druid's name


class _Schema(msgspec.Struct):
    granularitySpec: _Granularity | None = None


class _Spec(msgspec.Struct):
    dataSchema: _Schema | None = None


class _Task(msgspec.Struct):
    spec: _Spec | None = None
    dataSchema: _Schema | None = None
    granularitySpec: _Granularity | None = None  # a compaction task's


_decode_task = msgspec.json.Decoder(_Task).decode


def segment_granularity(spec: msgspec.Raw) -> str | None:
    """The segment granularity a task writes, by name (`DAY`), or None when unknown (or one,
    such as `ALL`, that a watermark cannot be aligned down to)."""
    try:
        task = _decode_task(bytes(spec))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    schema = task.spec.dataSchema if task.spec is not None else None
    holders = (
        schema.granularitySpec if schema is not None else None,
        task.dataSchema.granularitySpec if task.dataSchema is not None else None,
        task.granularitySpec,
    )
    for holder in holders:
        if holder is not None and isinstance(holder.segmentGranularity, str):
            try:
                return check_granularity(holder.segmentGranularity)
            except IntervalError:
                return None
    return None


def set_interval(task: dict[str, Any], interval: str) -> None:
    """Make `task` (a decoded task JSON) ingest `interval` wherever it names its interval."""
    if "interval" in task:
        task["interval"] = interval
    io = task.get("ioConfig")
    if isinstance(io, dict) and isinstance(io.get("inputSpec"), dict):
        io["inputSpec"]["interval"] = interval
    spec = task.get("spec")
    if not isinstance(spec, dict):
        return
    schema = spec.get("dataSchema")
    granularity = schema.get("granularitySpec") if isinstance(schema, dict) else None
    if isinstance(granularity, dict):
        granularity["intervals"] = [interval]
    spec_io = spec.get("ioConfig")
    source = spec_io.get("inputSource") if isinstance(spec_io, dict) else None
    if isinstance(source, dict) and "interval" in source:
        source["interval"] = interval


def short_instant(value: datetime) -> str:
    """`2024-03-05T10:00Z`: an instant as people read it in a hold reason or a history, to
    the minute (rounded down: a watermark shown is never later than the one computed; the
    exact value is in the recorded intent)."""
    text = format_instant(value.replace(second=0, microsecond=0))  # 2024-03-05T10:00:00.000Z
    return text.removesuffix(":00.000Z") + "Z"
