"""Who decides: the actor runtime, the job actors, the poller, supervision and the Orchestrator.

`actors.job` holds the job's pure state machine and its actor; `actors.supervision` the
supervisor, policies, breakers, slot gate and failure classification. The facade names
below load on first use (PEP 562), so importing `actors.job` for the FSM does not bring
up the whole orchestrator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from actors.errors import (
    ActorStoppedError,
    InvalidTransitionError,
    OrchestratorError,
    UnknownJobError,
)

if TYPE_CHECKING:
    from actors.job.view import JobUpdate, JobView
    from actors.orchestrator import Orchestrator
    from actors.settings import OrchestratorConfig

_HOMES = {
    "JobUpdate": "job.view",
    "JobView": "job.view",
    "Orchestrator": "orchestrator",
    "OrchestratorConfig": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'actors' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"actors.{home}"), name)
    globals()[name] = value
    return value


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
