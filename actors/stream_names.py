"""The names of the event log's streams: one place that says which stream holds what."""

from __future__ import annotations

JOB_PREFIX = "job:"
BREAKER_PREFIX = "breaker:"
SUPERVISOR_PREFIX = "supervisor:"
RECONCILE_STREAM = "reconcile"


def job_stream(job_id: str) -> str:
    return JOB_PREFIX + job_id


def job_of_stream(stream_id: str) -> str:
    return stream_id.removeprefix(JOB_PREFIX)


def breaker_stream(name: str) -> str:
    return BREAKER_PREFIX + name


def breaker_of_stream(stream_id: str) -> str:
    return stream_id.removeprefix(BREAKER_PREFIX)


def supervisor_stream(supervisor_id: str) -> str:
    return SUPERVISOR_PREFIX + supervisor_id


def supervisor_of_stream(stream_id: str) -> str:
    return stream_id.removeprefix(SUPERVISOR_PREFIX)
