"""What a supervisor's actor receives (commands) and what its state asks it to do (effects).

Commands carry the time and every fact a decision needs that the state does not hold, so
`actors.streams.fsm.decide` stays pure. A person's commands carry `by` and `reason`; the
actor's observations are the `Record...` commands.
"""

from __future__ import annotations

import msgspec

from eventlog.events import Classification, SupervisorAction

# --- commands ----------------------------------------------------------------------------


class Command(msgspec.Struct, frozen=True, kw_only=True):
    at: float


class Apply(Command, frozen=True):
    """Make the Overlord hold this canonical spec (create, update or re-create)."""

    supervisor_id: str
    datasource: str
    spec: msgspec.Raw
    spec_hash: str


class RecordApplied(Command, frozen=True):
    """The POST of `spec_hash` succeeded. `modified`: Druid 38+ says whether it changed."""

    spec_hash: str
    modified: bool | None = None


class RecordApplyRefused(Command, frozen=True):
    spec_hash: str
    http_status: int
    message: str


class RecordHeld(Command, frozen=True):
    """`GET /supervisor/{id}` holds a spec with this canonical hash (None: 404, none)."""

    spec_hash: str | None


class RecordState(Command, frozen=True):
    """The Overlord's report of the supervisor (from the bulk `?state=true` poll or /status)."""

    state: str
    detailed_state: str | None = None
    healthy: bool | None = None
    recent_errors: tuple[str, ...] = ()


class RecordHealth(Command, frozen=True):
    """The supervisor rules' reading of the unhealthy state the stream last recorded."""

    classification: Classification
    rule: str
    reason: str


class _ByPerson(Command, frozen=True):
    by: str = "user"
    reason: str = ""


class Suspend(_ByPerson, frozen=True):
    pass


class Resume(_ByPerson, frozen=True):
    pass


class Terminate(_ByPerson, frozen=True):
    pass


class Reset(_ByPerson, frozen=True):
    """Reset the offsets. Decided only with a non-blank `by` and `reason`: a person's call."""


class RecordSuspended(Command, frozen=True):
    pass


class RecordResumed(Command, frozen=True):
    pass


class RecordTerminated(Command, frozen=True):
    pass


class RecordReset(Command, frozen=True):
    pass


class RecordActionFailed(Command, frozen=True):
    """A suspend, resume, terminate or reset failed (`http_status` None: outcome unknown)."""

    action: SupervisorAction
    message: str
    http_status: int | None = None


# --- effects -----------------------------------------------------------------------------


class Effect(msgspec.Struct, frozen=True):
    pass


class PostSpec(Effect, frozen=True):
    """POST the spec with `skipRestartIfUnmodified=true`.

    `compare_first`: GET /supervisor/{id} first and answer with `RecordHeld` instead of
    POSTing when the Overlord already holds this hash (we do not know what it holds, or an
    earlier run's POST may have landed).
    """

    supervisor_id: str
    spec: msgspec.Raw
    spec_hash: str
    compare_first: bool = False


class SuspendSupervisor(Effect, frozen=True):
    supervisor_id: str


class ResumeSupervisor(Effect, frozen=True):
    supervisor_id: str


class TerminateSupervisor(Effect, frozen=True):
    supervisor_id: str


class ResetSupervisor(Effect, frozen=True):
    supervisor_id: str
    by: str
    reason: str


class AskPerson(Effect, frozen=True):
    """A reset was intended before a restart and may have happened: repeating it would move
    the offsets twice, so a person says what happened (`RecordReset` or
    `RecordActionFailed`)."""

    supervisor_id: str
    question: str


class Watch(Effect, frozen=True):
    """Watch the supervisor's state and health (in bulk, with the others)."""

    supervisor_id: str


class Finish(Effect, frozen=True):
    pass
