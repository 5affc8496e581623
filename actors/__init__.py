"""Who decides: the actor runtime, task actors, poller, supervisor and the Orchestrator."""

from actors.errors import (
    ActorStoppedError,
    InvalidTransitionError,
    OrchestratorError,
    UnknownJobError,
)
from actors.orchestrator import JobUpdate, JobView, Orchestrator, OrchestratorConfig

__all__ = [
    "ActorStoppedError",
    "InvalidTransitionError",
    "JobUpdate",
    "JobView",
    "Orchestrator",
    "OrchestratorConfig",
    "OrchestratorError",
    "UnknownJobError",
]
