"""A job's state: its phases, the transitions the design allows, and the folded state.

`JobState` is what `actors.job.fsm.evolve` folds a job's events into; it is also what
snapshots store (as JSON, since it holds the spec as raw JSON), so `STATE_SCHEMA_VERSION`
must change whenever its shape does.
"""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

from eventlog.events import Classification, SubTasksRecord

Phase = Literal[
    "new",
    "accepted",
    "submitting",
    "submitted",
    "waiting",
    "pending",
    "running",
    "failed",
    "retry_wait",
    "cancelling",
    "succeeded",
    "cancelled",
    "dead",
]
# Where a task shutdown stands in the current attempt.
Shutdown = Literal["none", "intended", "confirmed"]
# How a failure was seen: a FAILED status, a task the Overlord lost, a refused submission.
FailureSource = Literal["status", "lost", "rejected"]

# Every phase a job can be seen in (all but "new"), in lifecycle order: for tables and metrics.
PHASES: tuple[Phase, ...] = tuple(p for p in get_args(Phase) if p != "new")
TERMINAL: frozenset[Phase] = frozenset({"succeeded", "cancelled", "dead"})
DRUID_LIVE: frozenset[Phase] = frozenset({"submitted", "waiting", "pending", "running"})
RUNNER_PHASES: dict[str, Phase] = {"WAITING": "waiting", "PENDING": "pending", "RUNNING": "running"}
SHUTDOWN_BY_USER = "Shutdown request from user"

# Every phase change the design allows (same-phase events are always allowed). The property
# tests and `audit verify` check recorded histories against this table.
ALLOWED_TRANSITIONS: frozenset[tuple[Phase, Phase]] = frozenset(
    {
        ("new", "accepted"),
        ("accepted", "submitting"),
        ("accepted", "cancelled"),
        ("accepted", "dead"),
        ("submitting", "submitted"),
        ("submitting", "failed"),
        ("submitting", "cancelling"),
        ("submitting", "dead"),
        *(
            (live, nxt)
            for live in ("submitted", "waiting", "pending", "running")
            for nxt in (
                "waiting",
                "pending",
                "running",
                "succeeded",
                "failed",
                "cancelling",
                "dead",
            )
        ),
        ("failed", "retry_wait"),
        ("failed", "dead"),
        ("failed", "cancelled"),
        ("retry_wait", "submitting"),
        ("retry_wait", "cancelled"),
        ("retry_wait", "dead"),
        ("cancelling", "cancelled"),
        ("cancelling", "succeeded"),
        ("cancelling", "dead"),
        # A person's retry: a new attempt, or first the task the job died watching.
        ("dead", "retry_wait"),
        ("dead", "submitting"),
        ("cancelled", "retry_wait"),
    }
)
# Where a job that died may have left its task live on the Overlord (an escalation, say).
TASK_MAY_LIVE: frozenset[Phase] = DRUID_LIVE | {"submitting", "cancelling"}
RETRYABLE: frozenset[Phase] = frozenset({"dead", "cancelled"})

STATE_SCHEMA_VERSION = 7  # bump when JobState changes shape: stale snapshots are then ignored


class JobState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    job_id: str = ""
    phase: Phase = "new"
    version: int = 0
    datasource: str = ""
    interval: str = ""
    spec: msgspec.Raw = msgspec.Raw(b"{}")  # the task JSON, as JobAccepted holds it
    spec_hash: str = ""
    pipeline: str | None = None
    watermark_from: str | None = None  # see JobAccepted.watermark_from
    max_attempts: int = 1
    attempt: int = 0
    task_id: str | None = None
    # The interval the current attempt ingests when it is not `interval` (clipped at the
    # streaming watermark, as its SubmitIntended recorded): every POST of the task sends it.
    submit_interval: str | None = None
    # The current attempt's sub-task parallelism as its SubmitIntended recorded it (None:
    # the spec's own): every POST of the task sends its `m`, and its slot claim follows it.
    sub_tasks: SubTasksRecord | None = None
    accepted_at: float | None = None
    phase_since: float | None = None
    finished_at: float | None = None
    submit_not_before: float | None = None
    retry_not_before: float | None = None
    shutdown: Shutdown = "none"
    cancel_requested: bool = False
    deadline_exceeded: str | None = None
    last_error: str | None = None
    failure_source: FailureSource | None = None
    failure_http_status: int | None = None
    failure_error_code: str | None = None
    classification: Classification | None = None
    reason: str | None = None  # why the last failure was classified as it was
    rule: str | None = None
    restarts: int = 0
    uncounted: int = 0  # failed attempts that did not use up one of `max_attempts`
    # Attempts made before the last retry: a retried job gets `max_attempts` anew (and its
    # `uncounted` starts again from 0).
    attempt_base: int = 0
    died_in: Phase | None = None  # the phase a dead job was in when it died

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL
