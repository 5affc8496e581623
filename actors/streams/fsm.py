"""A managed supervisor's state machine, as pure functions (decider style, like the job's).

`decide(state, command)` says what a command means, `evolve` (in `evolve.py`) folds a
recorded event in, and `next_effect(state)` says what the state asks the actor to do. No I/O,
no clock, no randomness. docs/streams.md tells the rest.

The rules that make a restart of the orchestrator harmless to streaming tasks:

* An apply is decided only when the spec asked for differs from the one the Overlord is known
  to hold; its intent is written before the POST, and when we do not know what the Overlord
  holds the POST is preceded by a GET that may settle it.
* One intent at a time: a command that needs a call while another call's outcome is awaited
  decides nothing (the caller sees no events and may ask again).
* Observations are recorded, never acted on: no state Druid reports ever decides a suspend,
  resume or reset. A reset is decided only from a person's command naming who and why.
* Terminated absorbs every command but a new apply, which re-creates the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.streams.messages import (
    Apply,
    AskPerson,
    Command,
    Effect,
    Finish,
    PostSpec,
    RecordActionFailed,
    RecordApplied,
    RecordApplyRefused,
    RecordHealth,
    RecordHeld,
    RecordReset,
    RecordResumed,
    RecordState,
    RecordSuspended,
    RecordTerminated,
    Reset,
    ResetSupervisor,
    Resume,
    ResumeSupervisor,
    Suspend,
    SuspendSupervisor,
    Terminate,
    TerminateSupervisor,
    Watch,
)
from actors.streams.state import SupervisorState
from eventlog.events import (
    SupervisorActionFailed,
    SupervisorApplied,
    SupervisorApplyIntended,
    SupervisorApplyRejected,
    SupervisorEvent,
    SupervisorHealthClassified,
    SupervisorHeldObserved,
    SupervisorReset,
    SupervisorResetIntended,
    SupervisorResumed,
    SupervisorResumeIntended,
    SupervisorStateObserved,
    SupervisorSuspended,
    SupervisorSuspendIntended,
    SupervisorTerminated,
    SupervisorTerminateIntended,
)

__all__ = ["decide", "next_effect"]

# --- decide ------------------------------------------------------------------------------


def decide(state: SupervisorState, command: Command) -> list[SupervisorEvent]:
    """The events that `command` causes in `state` (possibly none)."""
    if isinstance(command, Apply):
        return _apply(state, command)
    if state.terminated or not state.known:
        return []
    handler = _DECIDERS.get(type(command))
    return handler(state, command) if handler is not None else []


def _apply(state: SupervisorState, cmd: Apply) -> list[SupervisorEvent]:
    if state.pending is not None:
        return []
    if state.known and cmd.supervisor_id != state.supervisor_id:
        return []  # a supervisor's id never changes: this command is for another stream
    # Already applied and the Overlord is known to hold it: re-POSTing would change nothing
    # at best and restart the streaming tasks at worst.
    if not state.terminated and state.in_sync and cmd.spec_hash == state.spec_hash:
        return []
    return [
        SupervisorApplyIntended(
            at=cmd.at,
            supervisor_id=cmd.supervisor_id,
            datasource=cmd.datasource,
            spec=cmd.spec,
            spec_hash=cmd.spec_hash,
        )
    ]


def _awaits_apply(state: SupervisorState, spec_hash: str) -> bool:
    return state.pending == "apply" and spec_hash == state.pending_hash


def _applied(state: SupervisorState, cmd: RecordApplied) -> list[SupervisorEvent]:
    if not _awaits_apply(state, cmd.spec_hash):
        return []
    evidence = None if cmd.modified is None else f"Overlord says modified={cmd.modified}"
    return [SupervisorApplied(at=cmd.at, spec_hash=cmd.spec_hash, evidence=evidence)]


def _apply_refused(state: SupervisorState, cmd: RecordApplyRefused) -> list[SupervisorEvent]:
    if not _awaits_apply(state, cmd.spec_hash):
        return []
    return [
        SupervisorApplyRejected(
            at=cmd.at, spec_hash=cmd.spec_hash, http_status=cmd.http_status, message=cmd.message
        )
    ]


def _held(state: SupervisorState, cmd: RecordHeld) -> list[SupervisorEvent]:
    if cmd.spec_hash is not None and _awaits_apply(state, cmd.spec_hash):
        # The Overlord already holds what we were about to POST (an earlier run's POST
        # landed, or it was never different): the apply is done without a call.
        return [
            SupervisorApplied(
                at=cmd.at,
                spec_hash=cmd.spec_hash,
                adopted=True,
                evidence="GET /supervisor/{id} holds this spec",
            )
        ]
    if cmd.spec_hash == state.held_hash:
        return []
    return [SupervisorHeldObserved(at=cmd.at, spec_hash=cmd.spec_hash)]


def _state_observed(state: SupervisorState, cmd: RecordState) -> list[SupervisorEvent]:
    # Only a change is recorded: the bulk poll reports every supervisor on every round.
    seen = (state.observed, state.detailed_state, state.healthy)
    if (cmd.state, cmd.detailed_state, cmd.healthy) == seen:
        return []
    return [
        SupervisorStateObserved(
            at=cmd.at,
            state=cmd.state,
            detailed_state=cmd.detailed_state,
            healthy=cmd.healthy,
            recent_errors=cmd.recent_errors,
        )
    ]


def _health(state: SupervisorState, cmd: RecordHealth) -> list[SupervisorEvent]:
    # A reading is about an unhealthy spell, and is recorded once per change of reading.
    if state.healthy is not False or (cmd.classification, cmd.rule) == (
        state.health,
        state.health_rule,
    ):
        return []
    return [
        SupervisorHealthClassified(
            at=cmd.at,
            classification=cmd.classification,
            rule=cmd.rule,
            reason=cmd.reason,
            detailed_state=state.detailed_state,
        )
    ]


def _idle(state: SupervisorState) -> bool:
    """Whether a person's action may be decided: applied, and no call's outcome awaited."""
    return state.applied and state.pending is None


def _suspend(state: SupervisorState, cmd: Suspend) -> list[SupervisorEvent]:
    # Someone may have resumed it behind our back: what Druid reports counts too.
    already = state.desired == "suspended" and state.observed in (None, "SUSPENDED")
    if not _idle(state) or already:
        return []
    return [SupervisorSuspendIntended(at=cmd.at, by=cmd.by, reason=cmd.reason)]


def _resume(state: SupervisorState, cmd: Resume) -> list[SupervisorEvent]:
    suspended = state.desired == "suspended" or state.observed == "SUSPENDED"
    if not _idle(state) or not suspended:
        return []
    return [SupervisorResumeIntended(at=cmd.at, by=cmd.by, reason=cmd.reason)]


def _terminate(state: SupervisorState, cmd: Terminate) -> list[SupervisorEvent]:
    if state.pending is not None or not (state.applied or state.held_hash is not None):
        return []
    return [SupervisorTerminateIntended(at=cmd.at, by=cmd.by, reason=cmd.reason)]


def _reset(state: SupervisorState, cmd: Reset) -> list[SupervisorEvent]:
    # Resetting offsets skips or replays data: only a named person with a stated reason.
    by, reason = cmd.by.strip(), cmd.reason.strip()
    if not _idle(state) or not by or not reason:
        return []
    return [SupervisorResetIntended(at=cmd.at, by=by, reason=reason)]


def _suspended(state: SupervisorState, cmd: RecordSuspended) -> list[SupervisorEvent]:
    return [SupervisorSuspended(at=cmd.at)] if state.pending == "suspend" else []


def _resumed(state: SupervisorState, cmd: RecordResumed) -> list[SupervisorEvent]:
    return [SupervisorResumed(at=cmd.at)] if state.pending == "resume" else []


def _terminated(state: SupervisorState, cmd: RecordTerminated) -> list[SupervisorEvent]:
    return [SupervisorTerminated(at=cmd.at)] if state.pending == "terminate" else []


def _was_reset(state: SupervisorState, cmd: RecordReset) -> list[SupervisorEvent]:
    return [SupervisorReset(at=cmd.at)] if state.pending == "reset" else []


def _action_failed(state: SupervisorState, cmd: RecordActionFailed) -> list[SupervisorEvent]:
    if state.pending != cmd.action:
        return []
    return [
        SupervisorActionFailed(
            at=cmd.at, action=cmd.action, message=cmd.message, http_status=cmd.http_status
        )
    ]


# One handler per command type. Apply is not here: it is the one command a terminated
# supervisor does not absorb, and the one that makes a supervisor known, so `decide` looks at
# it first.
_Decider = Callable[[SupervisorState, Any], list[SupervisorEvent]]
_DECIDERS: dict[type[Command], _Decider] = {
    RecordApplied: _applied,
    RecordApplyRefused: _apply_refused,
    RecordHeld: _held,
    RecordState: _state_observed,
    RecordHealth: _health,
    Suspend: _suspend,
    Resume: _resume,
    Terminate: _terminate,
    Reset: _reset,
    RecordSuspended: _suspended,
    RecordResumed: _resumed,
    RecordTerminated: _terminated,
    RecordReset: _was_reset,
    RecordActionFailed: _action_failed,
}


# --- next_effect -------------------------------------------------------------------------


def next_effect(state: SupervisorState, *, replayed_through: int = 0) -> Effect | None:
    """What the state asks the actor to do next, or None to wait for a message.

    `replayed_through`: the stream version the actor read back from the log when it started
    (0 for a new stream). A pending intent at or below it is an earlier run's, whose call may
    have happened. It is a version, not a flag cleared by the next record: an observation
    recorded since the restart does not make the earlier run's call any less uncertain.
    """
    sid = state.supervisor_id
    recovered = state.pending_version is not None and state.pending_version <= replayed_through
    if state.terminated:
        return Finish()
    if state.pending == "apply":
        assert state.pending_spec is not None
        assert state.pending_hash is not None
        compare = recovered or state.held_hash is None
        return PostSpec(sid, state.pending_spec, state.pending_hash, compare_first=compare)
    if state.pending == "suspend":
        return SuspendSupervisor(sid)  # repeating it is harmless: "already suspended"
    if state.pending == "resume":
        return ResumeSupervisor(sid)
    if state.pending == "terminate":
        return TerminateSupervisor(sid)
    if state.pending == "reset":
        if recovered:
            return AskPerson(sid, "a reset was intended before a restart and may have happened")
        return ResetSupervisor(sid, by=state.pending_by or "", reason=state.pending_reason or "")
    if state.applied:
        return Watch(sid)
    return None
