"""Errors of the actors room, plus the union of every room's base error.

The four rooms do not import each other (only `actors` imports the rest), so each room has its
own base class; `ORCHESTRATOR_ERRORS` lets callers catch "any error of ours" in one clause.
Every class carries `retryable`, which the supervisor reads.
"""

from __future__ import annotations

from typing import ClassVar

from eventlog.errors import EventLogError
from overlord.errors import OverlordError, OverlordUnavailableError
from specs.errors import SpecError


class OrchestratorError(Exception):
    """Base of the actors room's errors."""

    retryable: ClassVar[bool] = False


class ActorStoppedError(OrchestratorError):
    """A message was sent to, or was pending in, an actor that has stopped."""


class MailboxFullError(OrchestratorError):
    """`tell` found the actor's bounded mailbox full; use `send` to wait for room."""

    retryable: ClassVar[bool] = True


class InvalidTransitionError(OrchestratorError):
    """An event cannot apply in the current phase: a bug, or a tampered log. Never retried."""

    def __init__(self, phase: str, event: object) -> None:
        self.phase = phase
        self.event = event
        super().__init__(f"can't apply {type(event).__name__} when phase={phase!r}")


class UnknownJobError(OrchestratorError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}")


class NotRetryableError(OrchestratorError):
    """Only a dead or cancelled job can be retried; the message says what the job is."""

    def __init__(self, job_id: str, phase: str) -> None:
        self.job_id = job_id
        self.phase = phase
        hint = (
            "it succeeded; to ingest the interval again, submit a changed spec"
            if phase == "succeeded"
            else "it is still live"
        )
        super().__init__(f"job {job_id!r} is {phase}, not dead or cancelled: {hint}")


class BreakerOpenError(OverlordUnavailableError):
    """The Overlord circuit breaker is open: the call was not sent."""

    retryable: ClassVar[bool] = True


class ConfigError(OrchestratorError):
    """A configuration file or value is wrong; the message names the key."""


ORCHESTRATOR_ERRORS: tuple[type[Exception], ...] = (
    OrchestratorError,
    SpecError,
    OverlordError,
    EventLogError,
)
