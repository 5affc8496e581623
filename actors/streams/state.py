"""A managed supervisor's folded state: what we asked for, what the Overlord holds, what it
reports, and the one intent whose outcome is awaited.

A supervisor has no phase ladder like a job: it is wanted running, suspended or terminated
(`desired`), it has at most one intent awaiting its outcome (`pending`), and its health is
whatever the Overlord last reported (`observed`, which is never ours to change by deciding).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from eventlog.events import Classification, SupervisorAction

Desired = Literal["running", "suspended", "terminated"]
# An intent written to the log whose outcome is not recorded yet: the call may have happened.
Intent = Literal["apply", "suspend", "resume", "terminate", "reset"]

# Druid's basic states (REFERENCE §9.2); `detailedState` adds UNABLE_TO_CONNECT_TO_STREAM and
# LOST_CONTACT_WITH_STREAM (both reported as UNHEALTHY_SUPERVISOR) and the first-run states
# CONNECTING_TO_STREAM, DISCOVERING_INITIAL_TASKS, CREATING_TASKS (reported as RUNNING).
DRUID_STATES: tuple[str, ...] = (
    "PENDING",
    "RUNNING",
    "IDLE",
    "SUSPENDED",
    "STOPPING",
    "COMPLETED",
    "UNHEALTHY_SUPERVISOR",
    "UNHEALTHY_TASKS",
)
DETAILED_STATES: tuple[str, ...] = (
    *DRUID_STATES,
    "UNABLE_TO_CONNECT_TO_STREAM",
    "LOST_CONTACT_WITH_STREAM",
    "CONNECTING_TO_STREAM",
    "DISCOVERING_INITIAL_TASKS",
    "CREATING_TASKS",
)
UNHEALTHY: frozenset[str] = frozenset({"UNHEALTHY_SUPERVISOR", "UNHEALTHY_TASKS"})
ACTIONS: tuple[SupervisorAction, ...] = ("suspend", "resume", "terminate", "reset")


class SupervisorState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    supervisor_id: str = ""
    datasource: str = ""
    version: int = 0
    # The canonical spec the Overlord last confirmed holding, as bytes ("" hash: none yet).
    spec: msgspec.Raw = msgspec.Raw(b"{}")
    spec_hash: str = ""
    # What the Overlord holds, as last learnt (a POST's answer or a GET); None: nothing, or
    # not known. An apply is decided only when this differs from the spec asked for.
    held_hash: str | None = None
    desired: Desired = "running"
    observed: str | None = None  # Druid's basic state
    detailed_state: str | None = None
    healthy: bool | None = None
    recent_errors: tuple[str, ...] = ()
    observed_at: float | None = None
    pending: Intent | None = None
    pending_since: float | None = None
    # The stream version of the pending intent: an actor that replayed the stream through
    # this version did not make the call itself, and cannot know whether it happened.
    pending_version: int | None = None
    # The spec an apply intent is about to POST (None when no apply is pending).
    pending_spec: msgspec.Raw | None = None
    pending_hash: str | None = None
    # Who asked for the pending suspend, resume, terminate or reset, and why.
    pending_by: str | None = None
    pending_reason: str | None = None
    applied_at: float | None = None
    last_error: str | None = None
    last_reset_by: str | None = None
    last_reset_reason: str | None = None
    last_reset_at: float | None = None
    terminated_at: float | None = None
    # The rules' reading of the current unhealthy spell (None: healthy, or not read yet).
    health: Classification | None = None
    health_rule: str | None = None
    health_reason: str | None = None

    @property
    def known(self) -> bool:
        """Whether an apply was ever intended (the supervisor has an id)."""
        return self.supervisor_id != ""

    @property
    def applied(self) -> bool:
        return self.spec_hash != ""

    @property
    def terminated(self) -> bool:
        """Terminal: terminated, with nothing pending. Only a new apply re-creates it."""
        return self.desired == "terminated" and self.pending is None

    @property
    def in_sync(self) -> bool:
        """The Overlord is known to hold the spec we applied."""
        return self.applied and self.held_hash == self.spec_hash
