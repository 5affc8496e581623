"""What a job's actor receives (commands) and what its state asks it to do (effects).

Commands carry everything a decision needs that is not in the state, including the time and
any random delay, so `actors.job.fsm.decide` stays pure.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from actors.job.state import FailureSource
from eventlog.events import Classification, SubTasksRecord, WatermarkRecord

# --- commands: what the actor receives (time and random delays come in here) -----------


class Command(msgspec.Struct, frozen=True, kw_only=True):
    at: float


class Accept(Command, frozen=True):
    job_id: str
    datasource: str
    interval: str
    spec: msgspec.Raw  # see JobAccepted.spec
    spec_hash: str
    max_attempts: int
    pipeline: str | None = None
    watermark_from: str | None = None


class BeginAttempt(Command, frozen=True):
    """Start the first attempt, or the next one once the retry delay has passed.

    `interval` and `watermark`: what the watermark gate decided for this attempt (the
    interval clipped at the streaming watermark, None for the job's own), to record with the
    intent. `sub_tasks`: the sub-task parallelism the slot gate chose for it (None: the
    spec's own).
    """

    interval: str | None = None
    watermark: WatermarkRecord | None = None
    sub_tasks: SubTasksRecord | None = None


class RecordSubmitted(Command, frozen=True):
    task_id: str


class RecordAlreadyExists(Command, frozen=True):
    """The Overlord said "already exists" and a status call confirmed the task is there."""

    task_id: str
    status: str


class RecordSubmitUnknown(Command, frozen=True):
    """The POST's outcome is unknown; try the same id again after `retry_after_s`."""

    task_id: str
    error: str
    retry_after_s: float


class RecordSubmitRefused(Command, frozen=True):
    task_id: str
    http_status: int
    error_code: str | None
    message: str


class RecordStatus(Command, frozen=True):
    """The Overlord's view of a task, sent by the poller when it changes."""

    task_id: str
    status: str
    runner_status: str | None = None
    duration_ms: int = -1
    error_msg: str | None = None
    location: str | None = None


class RecordLost(Command, frozen=True):
    """The Overlord does not know the task (confirmed by a single status call)."""

    task_id: str
    evidence: str


class RecordAnalysis(Command, frozen=True):
    """The failure's classification, with the retry delay drawn by the actor.

    Whether the failure uses up an attempt is the FSM's to decide, from what the rule says
    (`count_attempt`) and how many failures the job may have spared (`max_uncounted`).
    """

    task_id: str
    classification: Classification
    rule: str
    reason: str
    report_excerpt: dict[str, Any] | None = None
    evidence_source: FailureSource = "status"
    retry_delay_s: float = 0.0
    count_attempt: bool = True
    max_uncounted: int = 0


class Adopt(Command, frozen=True):
    """Reconciliation found a task of ours on the Overlord for a job the log does not know
    (an orphan being adopted): accept the job and record its intent and submission in one
    step, so no effect can run in between (an accepted job would start an attempt of its
    own, and the job would have two live tasks)."""

    accept: Accept
    task_id: str
    attempt: int
    evidence: str


class Cancel(Command, frozen=True):
    reason: str = "user"


class Retry(Command, frozen=True):
    """A person asks a dead or cancelled job to run again."""

    reason: str = ""
    by: str = "user"


class RecordShutdown(Command, frozen=True):
    task_id: str
    http_status: int = 200


class PhaseLimits(Protocol):
    """The longest a task may spend in each Druid phase, in seconds (None: no limit)."""

    @property
    def waiting_s(self) -> float | None: ...
    @property
    def pending_s(self) -> float | None: ...
    @property
    def running_s(self) -> float | None: ...


class CheckDeadlines(Command, frozen=True):
    """Compare time spent in the current Druid phase with the limits (seconds, None = none)."""

    waiting_s: float | None = None
    pending_s: float | None = None
    running_s: float | None = None


class Escalate(Command, frozen=True):
    """The supervisor gives up on the job (restart intensity exceeded)."""

    reason: str


class RecordCrash(Command, frozen=True):
    error: str
    restarts: int


# --- effects: what the state asks the actor to do ---------------------------------------


class Effect(msgspec.Struct, frozen=True):
    pass


class StartAttempt(Effect, frozen=True):
    not_before: float | None = None


class SubmitTask(Effect, frozen=True):
    task_id: str
    not_before: float | None = None
    # The task may already be on the Overlord: look it up before POSTing.
    confirm_first: bool = False


class WatchTask(Effect, frozen=True):
    task_id: str


class AnalyseFailure(Effect, frozen=True):
    task_id: str | None
    source: FailureSource


class ShutdownTask(Effect, frozen=True):
    task_id: str


class Finish(Effect, frozen=True):
    pass
