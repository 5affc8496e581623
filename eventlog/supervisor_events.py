"""The events of managed stream supervisors (Kafka / Kinesis), `supervisor:<id>` streams.

The rules of `eventlog.events` apply: explicit tags, new fields only with defaults. The log's
union of every event (`eventlog.events.AnyEvent`) includes these, and `eventlog.events`
re-exports them, so callers import every event from there.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from eventlog.event_base import Classification, Event

# One stream per supervisor id; only the apply intent names the supervisor, as only
# JobAccepted names its job. Druid's states are kept as strings: a new state in a later Druid
# must not make an old log, or a live observation, unreadable.

SupervisorAction = Literal["suspend", "resume", "terminate", "reset"]


class SupervisorApplyIntended(Event, frozen=True, tag="supervisor_apply_intended"):
    """Write-ahead intent: the canonical spec `spec` (hash `spec_hash`) is about to be POSTed."""

    supervisor_id: str
    datasource: str
    spec: msgspec.Raw
    spec_hash: str


class SupervisorApplied(Event, frozen=True, tag="supervisor_applied"):
    """The Overlord holds spec `spec_hash`. `adopted`: learnt from its GET, not from a POST."""

    spec_hash: str
    adopted: bool = False
    evidence: str | None = None


class SupervisorApplyRejected(Event, frozen=True, tag="supervisor_apply_rejected"):
    """The Overlord refused the spec (400 on validation); it keeps whatever it held before."""

    spec_hash: str
    http_status: int
    message: str


class SupervisorHeldObserved(Event, frozen=True, tag="supervisor_held_observed"):
    """What `GET /supervisor/{id}` holds, as a canonical hash (None: no such supervisor)."""

    spec_hash: str | None


class SupervisorStateObserved(Event, frozen=True, tag="supervisor_state_observed"):
    """The Overlord's report of the supervisor changed (state, detailed state or health)."""

    state: str
    detailed_state: str | None = None
    healthy: bool | None = None
    recent_errors: tuple[str, ...] = ()  # an excerpt of `recentErrors`, newest last


class SupervisorSuspendIntended(Event, frozen=True, tag="supervisor_suspend_intended"):
    by: str
    reason: str = ""


class SupervisorSuspended(Event, frozen=True, tag="supervisor_suspended"):
    pass


class SupervisorResumeIntended(Event, frozen=True, tag="supervisor_resume_intended"):
    by: str
    reason: str = ""


class SupervisorResumed(Event, frozen=True, tag="supervisor_resumed"):
    pass


class SupervisorTerminateIntended(Event, frozen=True, tag="supervisor_terminate_intended"):
    by: str
    reason: str = ""


class SupervisorTerminated(Event, frozen=True, tag="supervisor_terminated"):
    pass


class SupervisorResetIntended(Event, frozen=True, tag="supervisor_reset_intended"):
    """A person asked to reset the supervisor's offsets: who, and why (both required)."""

    by: str
    reason: str


class SupervisorReset(Event, frozen=True, tag="supervisor_reset"):
    pass


class SupervisorActionFailed(Event, frozen=True, tag="supervisor_action_failed"):
    """A suspend, resume, terminate or reset did not happen (or, for a reset, may not have:
    `http_status` None means nobody knows and a person has said so)."""

    action: SupervisorAction
    message: str
    http_status: int | None = None


class SupervisorHealthClassified(Event, frozen=True, tag="supervisor_health_classified"):
    """The reading of an unhealthy spell by the supervisor rules (`failure_rules.toml`):
    transient (it should pass) or structural (a person must look). Recorded when the reading
    changes, never acted on: offsets are never reset on its account."""

    classification: Classification
    rule: str
    reason: str
    detailed_state: str | None = None


SupervisorEvent = (
    SupervisorApplyIntended
    | SupervisorApplied
    | SupervisorApplyRejected
    | SupervisorHeldObserved
    | SupervisorStateObserved
    | SupervisorSuspendIntended
    | SupervisorSuspended
    | SupervisorResumeIntended
    | SupervisorResumed
    | SupervisorTerminateIntended
    | SupervisorTerminated
    | SupervisorResetIntended
    | SupervisorReset
    | SupervisorActionFailed
    | SupervisorHealthClassified
)
