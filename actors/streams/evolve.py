"""The fold half of the supervisor FSM: how a recorded event changes a supervisor's state.

`evolve(state, event)` is pure and total over the events a supervisor stream may hold: it
returns the next state, or raises `InvalidTransitionError` when the state does not allow the
event (a bug, or a tampered log). `fold` replays a whole stream with this same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from msgspec.structs import replace

from actors.errors import InvalidTransitionError
from actors.streams.state import Intent, SupervisorState
from eventlog.events import (
    Event,
    SupervisorActionFailed,
    SupervisorApplied,
    SupervisorApplyIntended,
    SupervisorApplyRejected,
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

__all__ = ["evolve", "fold"]


def _where(state: SupervisorState) -> str:
    """The state in the words of `InvalidTransitionError` (a supervisor has no phase)."""
    return f"{state.desired}, pending {state.pending}"


def evolve(state: SupervisorState, event: Event) -> SupervisorState:
    """The state after `event`. Raises InvalidTransitionError for an event it forbids."""
    if state.terminated and type(event) is not SupervisorApplyIntended:
        raise InvalidTransitionError(_where(state), event)
    step = _EVOLVERS.get(type(event))
    new = step(state, event, state.version + 1) if step is not None else None
    if new is None:
        raise InvalidTransitionError(_where(state), event)
    return new


# Each returns the new state, or None when the state does not allow the event.
_Evolver = Callable[[SupervisorState, Any, int], "SupervisorState | None"]

# What a settled intent leaves behind.
_NOTHING_PENDING: dict[str, Any] = {
    "pending": None,
    "pending_since": None,
    "pending_version": None,
    "pending_spec": None,
    "pending_hash": None,
    "pending_by": None,
    "pending_reason": None,
}
# What Druid reported before a call of ours changed the supervisor is no longer its state.
_NOTHING_OBSERVED: dict[str, Any] = {
    "observed": None,
    "detailed_state": None,
    "healthy": None,
    "recent_errors": (),
    "observed_at": None,
    "health": None,
    "health_rule": None,
    "health_reason": None,
}


def _apply_intended(
    s: SupervisorState, e: SupervisorApplyIntended, v: int
) -> SupervisorState | None:
    if s.pending is not None or (s.known and e.supervisor_id != s.supervisor_id):
        return None
    return replace(
        s,
        version=v,
        supervisor_id=e.supervisor_id,
        datasource=e.datasource,
        pending="apply",
        pending_since=e.at,
        pending_version=v,
        # A decoded Raw may be a view pinning a whole read buffer: keep only its own bytes.
        pending_spec=e.spec.copy(),
        pending_hash=e.spec_hash,
    )


def _applied(s: SupervisorState, e: SupervisorApplied, v: int) -> SupervisorState | None:
    if s.pending != "apply" or e.spec_hash != s.pending_hash or s.pending_spec is None:
        return None
    recreated = s.desired == "terminated"
    return replace(
        s,
        version=v,
        spec=s.pending_spec,
        spec_hash=e.spec_hash,
        held_hash=e.spec_hash,
        desired="running" if recreated else s.desired,
        applied_at=e.at,
        terminated_at=None,
        last_error=None,
        **_NOTHING_PENDING,
    )


def _apply_rejected(
    s: SupervisorState, e: SupervisorApplyRejected, v: int
) -> SupervisorState | None:
    if s.pending != "apply" or e.spec_hash != s.pending_hash:
        return None
    return replace(s, version=v, last_error=e.message, **_NOTHING_PENDING)


def _held_observed(s: SupervisorState, e: SupervisorHeldObserved, v: int) -> SupervisorState | None:
    return replace(s, version=v, held_hash=e.spec_hash)


def _state_observed(
    s: SupervisorState, e: SupervisorStateObserved, v: int
) -> SupervisorState | None:
    # A spell ends when the supervisor is healthy again; its reading goes with it.
    spell_over = e.healthy is not False
    return replace(
        s,
        version=v,
        observed=e.state,
        detailed_state=e.detailed_state,
        healthy=e.healthy,
        recent_errors=e.recent_errors,
        observed_at=e.at,
        health=None if spell_over else s.health,
        health_rule=None if spell_over else s.health_rule,
        health_reason=None if spell_over else s.health_reason,
    )


def _health_classified(
    s: SupervisorState, e: SupervisorHealthClassified, v: int
) -> SupervisorState | None:
    return replace(
        s, version=v, health=e.classification, health_rule=e.rule, health_reason=e.reason
    )


def _intended(intent: Intent) -> _Evolver:
    def step(s: SupervisorState, e: Any, v: int) -> SupervisorState | None:
        if s.pending is not None:
            return None
        return replace(
            s,
            version=v,
            pending=intent,
            pending_since=e.at,
            pending_version=v,
            pending_by=e.by,
            pending_reason=e.reason,
        )

    return step


def _suspended(s: SupervisorState, e: SupervisorSuspended, v: int) -> SupervisorState | None:
    if s.pending != "suspend":
        return None
    return replace(s, version=v, desired="suspended", **_NOTHING_PENDING, **_NOTHING_OBSERVED)


def _resumed(s: SupervisorState, e: SupervisorResumed, v: int) -> SupervisorState | None:
    if s.pending != "resume":
        return None
    return replace(s, version=v, desired="running", **_NOTHING_PENDING, **_NOTHING_OBSERVED)


def _terminated(s: SupervisorState, e: SupervisorTerminated, v: int) -> SupervisorState | None:
    if s.pending != "terminate":
        return None
    return replace(
        s,
        version=v,
        desired="terminated",
        held_hash=None,
        terminated_at=e.at,
        **_NOTHING_PENDING,
        **_NOTHING_OBSERVED,
    )


def _was_reset(s: SupervisorState, e: SupervisorReset, v: int) -> SupervisorState | None:
    if s.pending != "reset":
        return None
    return replace(
        s,
        version=v,
        last_reset_by=s.pending_by,
        last_reset_reason=s.pending_reason,
        last_reset_at=e.at,
        **_NOTHING_PENDING,
    )


def _action_failed(s: SupervisorState, e: SupervisorActionFailed, v: int) -> SupervisorState | None:
    if s.pending != e.action:
        return None
    return replace(s, version=v, last_error=e.message, **_NOTHING_PENDING)


_EVOLVERS: dict[type[Event], _Evolver] = {
    SupervisorApplyIntended: _apply_intended,
    SupervisorApplied: _applied,
    SupervisorApplyRejected: _apply_rejected,
    SupervisorHeldObserved: _held_observed,
    SupervisorStateObserved: _state_observed,
    SupervisorSuspendIntended: _intended("suspend"),
    SupervisorSuspended: _suspended,
    SupervisorResumeIntended: _intended("resume"),
    SupervisorResumed: _resumed,
    SupervisorTerminateIntended: _intended("terminate"),
    SupervisorTerminated: _terminated,
    SupervisorResetIntended: _intended("reset"),
    SupervisorReset: _was_reset,
    SupervisorActionFailed: _action_failed,
    SupervisorHealthClassified: _health_classified,
}


def fold(events: Iterable[Event], state: SupervisorState | None = None) -> SupervisorState:
    """Replay: the state after applying `events` in order from `state` (or from scratch)."""
    current = state or SupervisorState()
    for event in events:
        current = evolve(current, event)
    return current
