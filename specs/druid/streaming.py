"""What a Kafka or Kinesis supervisor's ioConfig and tuningConfig constructors refuse.

Druid builds the supervisor spec while deserializing `POST /druid/indexer/v1/supervisor`, so
each of these answers 400 there. The sources are KafkaSupervisorIOConfig,
KinesisSupervisorIOConfig, their base SeekableStreamSupervisorIOConfig and the supervisor
tuning configs; docs/validation.md has the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from msgspec import UnsetType

from specs.druid.base import given
from specs.druid.documents import KafkaIOConfig, KinesisIOConfig
from specs.druid.tuning import StreamTuningConfig
from specs.errors import SpecError

__all__ = ["STREAM_RULES", "stream_errors"]

STREAM_RULES = {
    "kafka-topic": "Kafka needs exactly one of topic and topicPattern",
    "kafka-bootstrap-servers": "Kafka consumerProperties need bootstrap.servers",
    "kinesis-needs-stream": "Kinesis needs stream",
    "late-rejection-exclusive": "lateMessageRejectionPeriod and ...StartDateTime are exclusive",
    "stream-period": "supervisor periods are ISO-8601; those read as durations have no Y or M",
    "autoscaler-task-counts": "an enabled lag-based autoscaler needs taskCountMin <= "
    "taskCountMax (and taskCountStart between them)",
}
"""The rules this module reports, with a one-line summary of each."""

# Joda's ISO period syntax (ISOPeriodFormat.standard): signed fields, fractional seconds.
_PERIOD = re.compile(
    r"^P(?:(?P<y>[-+]?\d+)Y)?(?:(?P<mo>[-+]?\d+)M)?(?:[-+]?\d+W)?(?:[-+]?\d+D)?"
    r"(?:T(?:[-+]?\d+H)?(?:[-+]?\d+M)?(?:[-+]?\d+(?:[.,]\d+)?S)?)?$",
    re.IGNORECASE,
)
# Fields Druid turns into a Duration with Period.toStandardDuration(), which throws for a
# period with years or months (their length varies).
_IO_DURATIONS = (
    ("taskDuration", "task_duration"),
    ("startDelay", "start_delay"),
    ("period", "period"),
    ("completionTimeout", "completion_timeout"),
    ("lateMessageRejectionPeriod", "late_message_rejection_period"),
    ("earlyMessageRejectionPeriod", "early_message_rejection_period"),
)
_TUNING_DURATIONS = (
    ("httpTimeout", "http_timeout"),
    ("shutdownTimeout", "shutdown_timeout"),
    ("offsetFetchPeriod", "offset_fetch_period"),
    ("repartitionTransitionDuration", "repartition_transition_duration"),
)
# Kept as a Joda Period, so any ISO period parses.
_TUNING_PERIODS = (
    ("intermediatePersistPeriod", "intermediate_persist_period"),
    ("intermediateHandoffPeriod", "intermediate_handoff_period"),
)


def stream_errors(
    io: KafkaIOConfig | KinesisIOConfig,
    tuning: StreamTuningConfig | UnsetType | None,
    io_path: str,
    tuning_path: str,
) -> Iterator[SpecError]:
    """Every rule a supervisor's ioConfig and tuningConfig break, in document order."""
    if isinstance(io, KafkaIOConfig):
        yield from _kafka(io, io_path)
    elif not given(io.stream):
        # KinesisSupervisorIOConfig: checkNotNull(stream).
        yield SpecError(
            "Kinesis ioConfig needs stream (the Kinesis stream name)",
            path=f"{io_path}.stream",
            rule="kinesis-needs-stream",
        )
    # SeekableStreamSupervisorIOConfig: "does not support both properties ...".
    if given(io.late_message_rejection_period) and given(io.late_message_rejection_start_date_time):
        yield SpecError(
            "lateMessageRejectionPeriod and lateMessageRejectionStartDateTime cannot both be set",
            path=f"{io_path}.lateMessageRejectionStartDateTime",
            rule="late-rejection-exclusive",
        )
    if isinstance(io.auto_scaler_config, dict):
        yield from _autoscaler(io.auto_scaler_config, f"{io_path}.autoScalerConfig")
    for key, attribute in _IO_DURATIONS:
        yield from _period(getattr(io, attribute), f"{io_path}.{key}", duration=True)
    if isinstance(tuning, StreamTuningConfig):
        for key, attribute in _TUNING_DURATIONS:
            yield from _period(getattr(tuning, attribute), f"{tuning_path}.{key}", duration=True)
        for key, attribute in _TUNING_PERIODS:
            yield from _period(getattr(tuning, attribute), f"{tuning_path}.{key}", duration=False)


def _kafka(io: KafkaIOConfig, path: str) -> Iterator[SpecError]:
    # KafkaSupervisorIOConfig: "Either topic or topicPattern must be specified".
    if given(io.topic) == given(io.topic_pattern):
        found = "both" if given(io.topic) else "neither"
        yield SpecError(
            f"Kafka ioConfig needs exactly one of topic and topicPattern; found {found}",
            path=f"{path}.topic",
            rule="kafka-topic",
        )
    # KafkaSupervisorIOConfig: checkNotNull(consumerProperties) and of its bootstrap.servers
    # entry. Only null is refused: an empty string passes the constructor.
    properties = io.consumer_properties
    if not isinstance(properties, dict) or properties.get("bootstrap.servers") is None:
        yield SpecError(
            "Kafka consumerProperties need bootstrap.servers (the brokers to read from)",
            path=f"{path}.consumerProperties",
            rule="kafka-bootstrap-servers",
        )


def _autoscaler(config: dict[str, object], path: str) -> Iterator[SpecError]:
    # LagBasedAutoScalerConfig checks the counts only when the autoscaler is enabled; other
    # strategies (costBased...) have their own configs, not checked here.
    if config.get("enableTaskAutoScaler") is not True:
        return
    if config.get("autoScalerStrategy", "lagBased") not in ("lagBased", None):
        return
    low, high, start = (config.get(k) for k in ("taskCountMin", "taskCountMax", "taskCountStart"))
    if not isinstance(low, int) or not isinstance(high, int):
        missing = "taskCountMin" if not isinstance(low, int) else "taskCountMax"
        yield SpecError(
            "an enabled autoscaler needs taskCountMin and taskCountMax",
            path=f"{path}.{missing}",
            rule="autoscaler-task-counts",
        )
    elif high < low:
        yield SpecError(
            f"taskCountMax {high} is lower than taskCountMin {low}",
            path=f"{path}.taskCountMax",
            rule="autoscaler-task-counts",
        )
    elif isinstance(start, int) and not low <= start <= high:
        yield SpecError(
            f"taskCountStart {start} is outside taskCountMin {low} .. taskCountMax {high}",
            path=f"{path}.taskCountStart",
            rule="autoscaler-task-counts",
        )


def _period(value: object, path: str, *, duration: bool) -> Iterator[SpecError]:
    if not isinstance(value, str):
        return
    match = _PERIOD.match(value.strip())
    if match is None or value.strip().upper() in ("P", "PT"):
        yield SpecError(
            f"{value!r} is not an ISO-8601 period such as PT1H or PT30S",
            path=path,
            rule="stream-period",
        )
    elif duration and (_nonzero(match["y"]) or _nonzero(match["mo"])):
        yield SpecError(
            f"{value!r} has years or months, whose length varies; Druid reads this field as a "
            "fixed duration (write P30D or PT720H instead)",
            path=path,
            rule="stream-period",
        )


def _nonzero(field: str | None) -> bool:
    return field is not None and int(field) != 0
