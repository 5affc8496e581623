"""Event types: every decision the orchestrator makes, as a permanent record.

Rules for evolving these classes (a stored event is permanent):

* Tags are explicit strings; renaming a class never changes the log.
* New fields only with defaults, so old rows still decode.
* A breaking change gets a new class with a new tag, and the old tag keeps decoding through an
  upcaster in `eventlog.upcasting` that turns the old shape into the new class.

Events carry the Overlord's answers that led to them (status payloads, report excerpts), so
replaying a stream never needs the network.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from eventlog.event_base import Classification as Classification
from eventlog.event_base import Event as Event
from eventlog.supervisor_events import SupervisorAction as SupervisorAction
from eventlog.supervisor_events import SupervisorActionFailed as SupervisorActionFailed
from eventlog.supervisor_events import SupervisorApplied as SupervisorApplied
from eventlog.supervisor_events import SupervisorApplyIntended as SupervisorApplyIntended
from eventlog.supervisor_events import SupervisorApplyRejected as SupervisorApplyRejected
from eventlog.supervisor_events import SupervisorEvent as SupervisorEvent
from eventlog.supervisor_events import SupervisorHealthClassified as SupervisorHealthClassified
from eventlog.supervisor_events import SupervisorHeldObserved as SupervisorHeldObserved
from eventlog.supervisor_events import SupervisorReset as SupervisorReset
from eventlog.supervisor_events import SupervisorResetIntended as SupervisorResetIntended
from eventlog.supervisor_events import SupervisorResumed as SupervisorResumed
from eventlog.supervisor_events import SupervisorResumeIntended as SupervisorResumeIntended
from eventlog.supervisor_events import SupervisorStateObserved as SupervisorStateObserved
from eventlog.supervisor_events import SupervisorSuspended as SupervisorSuspended
from eventlog.supervisor_events import SupervisorSuspendIntended as SupervisorSuspendIntended
from eventlog.supervisor_events import SupervisorTerminated as SupervisorTerminated
from eventlog.supervisor_events import SupervisorTerminateIntended as SupervisorTerminateIntended

# --- job lifecycle -------------------------------------------------------------------------


class JobAccepted(Event, frozen=True, tag="job_accepted"):
    """A job entered the orchestrator: one datasource, one interval, one compiled spec.

    `spec` is the validated task JSON, kept as the bytes it is stored as (`msgspec.Raw`):
    nothing in the orchestrator reads inside it but the submission, so replay and every live
    job skip building its tree of dicts (about 5 KB a job for a compiled `index_parallel`
    spec of 1 KB). Decode it with `spec_dict`.
    """

    job_id: str
    datasource: str
    interval: str
    spec: msgspec.Raw
    spec_hash: str
    max_attempts: int = 3
    pipeline: str | None = None
    # A supervisor whose stream the job's interval must stay behind, besides those the
    # Overlord lists as writing `datasource` (the streaming watermark gate).
    watermark_from: str | None = None


class WatermarkRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The streaming watermark an attempt's interval was decided against.

    `at`: no streaming task writes a row before it (ISO-8601); `aligned`: `at` aligned down to
    the job's segment granularity, where the interval had to end (None: the granularity was
    unknown, so the whole interval had to lie before `at`); `source` and `detail`: the rule of
    `specs.watermark` that gave the bound, and its values; `supervisors`: whose streams it is
    the minimum over.
    """

    at: str
    aligned: str | None = None
    source: str
    detail: str
    supervisors: tuple[str, ...] = ()


class SubTasksRecord(msgspec.Struct, frozen=True, kw_only=True):
    """How an attempt's `maxNumConcurrentSubTasks` was chosen from the cluster's free slots.

    `m`: the value every POST of the attempt sends; `capacity`: the cluster's task slots
    (`totalWorkerCapacity`) then; `free`: those not claimed by this orchestrator's parallel
    jobs; `waiting`: parallel jobs waiting for slots besides this one; `ceiling` and `floor`:
    the job's bounds (its compiled value, and 2 for range partitioning, else 1).
    """

    m: int
    capacity: int
    free: int
    waiting: int = 0
    ceiling: int
    floor: int = 1


class SubmitIntended(Event, frozen=True, tag="submit_intended"):
    """Write-ahead intent: attempt `attempt` is about to be POSTed with id `task_id`.

    `interval`: what this attempt ingests when it is not the job's own (clipped at the
    streaming watermark); every POST of `task_id`, a re-POST after a crash included, sends
    this interval. `watermark`: the streaming watermark it was decided against, if a stream
    writes the datasource.
    """

    attempt: int
    task_id: str
    interval: str | None = None
    watermark: WatermarkRecord | None = None
    # The attempt's sub-task parallelism, chosen at admission (None: the spec's own); a
    # re-POST sends this `m`, never a fresh choice.
    sub_tasks: SubTasksRecord | None = None


class Submitted(Event, frozen=True, tag="submitted"):
    """The Overlord holds `task_id`. `adopted` means we learnt it by asking, not from the POST."""

    attempt: int
    task_id: str
    adopted: bool = False
    evidence: str | None = None


class SubmitDeferred(Event, frozen=True, tag="submit_deferred"):
    """The POST's outcome is unknown (transport error, 5xx); the same id will be tried again."""

    attempt: int
    task_id: str
    error: str
    retry_after_s: float


class SubmitRejected(Event, frozen=True, tag="submit_rejected"):
    """The Overlord refused the spec (4xx other than duplicate id)."""

    attempt: int
    task_id: str
    http_status: int
    error_code: str | None
    message: str


class StatusObserved(Event, frozen=True, tag="status_observed"):
    """The task moved between WAITING, PENDING and RUNNING on the Overlord."""

    task_id: str
    runner_status: str
    location: str | None = None


class TaskSucceeded(Event, frozen=True, tag="task_succeeded"):
    task_id: str
    duration_ms: int


class TaskFailed(Event, frozen=True, tag="task_failed"):
    """Druid reported FAILED, or the task was lost. `source` says how we know."""

    task_id: str
    error_msg: str | None
    duration_ms: int = -1
    source: Literal["status", "lost", "rejected"] = "status"


class FailureClassified(Event, frozen=True, tag="failure_classified"):
    """Why a failure is transient or structural, with the evidence that decided it."""

    task_id: str
    classification: Classification
    rule: str
    reason: str
    report_excerpt: dict[str, Any] | None = None
    evidence_source: str = "status"
    counted: bool = True  # False: this failure did not use up one of the job's attempts


class RetryScheduled(Event, frozen=True, tag="retry_scheduled"):
    next_attempt: int
    delay_s: float
    not_before: float


class JobDied(Event, frozen=True, tag="job_dead"):
    """The job will not be retried; a person must look at it."""

    reason: str
    rule: str | None = None


class JobRetried(Event, frozen=True, tag="job_retried"):
    """A person asked a dead or cancelled job to run again, with a fresh set of attempts."""

    reason: str = ""
    by: str = "user"


class CancelRequested(Event, frozen=True, tag="cancel_requested"):
    reason: str = "user"


class ShutdownIntended(Event, frozen=True, tag="shutdown_intended"):
    """Write-ahead intent for `POST /task/{id}/shutdown`."""

    task_id: str
    reason: Literal["cancel", "deadline"] = "cancel"


class ShutdownConfirmed(Event, frozen=True, tag="shutdown_confirmed"):
    task_id: str
    http_status: int = 200


class JobCancelled(Event, frozen=True, tag="job_cancelled"):
    task_id: str | None = None


class PhaseDeadlineExceeded(Event, frozen=True, tag="phase_deadline_exceeded"):
    task_id: str
    phase: str
    limit_s: float
    elapsed_s: float


class ActorCrashed(Event, frozen=True, tag="actor_crashed"):
    """The job's actor raised; the supervisor restarts it or escalates."""

    error: str
    restarts: int


# --- circuit breakers and reconciliation ---------------------------------------------------


class BreakerOpened(Event, frozen=True, tag="breaker_opened"):
    breaker: str
    reason: str
    until: float | None = None


class BreakerHalfOpened(Event, frozen=True, tag="breaker_half_opened"):
    breaker: str


class BreakerClosed(Event, frozen=True, tag="breaker_closed"):
    breaker: str
    reason: str = "probe succeeded"


class ReconcileDecided(Event, frozen=True, tag="reconcile_decided"):
    """A decision taken while merging the log with the Overlord's view."""

    job_id: str | None
    task_id: str
    decision: str
    evidence: str


JobEvent = (
    JobAccepted
    | SubmitIntended
    | Submitted
    | SubmitDeferred
    | SubmitRejected
    | StatusObserved
    | TaskSucceeded
    | TaskFailed
    | FailureClassified
    | RetryScheduled
    | JobDied
    | JobRetried
    | CancelRequested
    | ShutdownIntended
    | ShutdownConfirmed
    | JobCancelled
    | PhaseDeadlineExceeded
    | ActorCrashed
)

AnyEvent = (
    JobEvent
    | BreakerOpened
    | BreakerHalfOpened
    | BreakerClosed
    | ReconcileDecided
    | SupervisorEvent
)

EVENT_TYPES: tuple[type[Event], ...] = (
    JobAccepted,
    SubmitIntended,
    Submitted,
    SubmitDeferred,
    SubmitRejected,
    StatusObserved,
    TaskSucceeded,
    TaskFailed,
    FailureClassified,
    RetryScheduled,
    JobDied,
    JobRetried,
    CancelRequested,
    ShutdownIntended,
    ShutdownConfirmed,
    JobCancelled,
    PhaseDeadlineExceeded,
    ActorCrashed,
    BreakerOpened,
    BreakerHalfOpened,
    BreakerClosed,
    ReconcileDecided,
    SupervisorApplyIntended,
    SupervisorApplied,
    SupervisorApplyRejected,
    SupervisorHeldObserved,
    SupervisorStateObserved,
    SupervisorSuspendIntended,
    SupervisorSuspended,
    SupervisorResumeIntended,
    SupervisorResumed,
    SupervisorTerminateIntended,
    SupervisorTerminated,
    SupervisorResetIntended,
    SupervisorReset,
    SupervisorActionFailed,
    SupervisorHealthClassified,
)

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(AnyEvent)


def event_tag(event: Event) -> str:
    """The stored tag of an event (its `type` field on the wire)."""
    tag = type(event).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def encode_event(event: Event) -> bytes:
    return _ENCODER.encode(event)


def spec_raw(spec: dict[str, Any]) -> msgspec.Raw:
    """A task spec as a `JobAccepted` holds it."""
    return msgspec.Raw(_ENCODER.encode(spec))


def spec_dict(spec: msgspec.Raw) -> dict[str, Any]:
    """A stored task spec as a dict (a fresh one: changing it changes nothing recorded)."""
    return msgspec.json.decode(spec, type=dict[str, Any])


def _raw_hook(value: Any) -> Any:
    if isinstance(value, msgspec.Raw):
        return msgspec.json.decode(value)
    raise NotImplementedError(f"cannot convert {type(value).__name__}")


def event_fields(event: Event) -> dict[str, Any]:
    """An event as plain data (its `type` tag included), with the spec as a dict."""
    fields: dict[str, Any] = msgspec.to_builtins(event, enc_hook=_raw_hook)
    return fields


def decode_event(body: bytes) -> AnyEvent:
    """Decode one stored body; raises `msgspec.ValidationError`/`DecodeError` on bad input."""
    return _DECODER.decode(body)
