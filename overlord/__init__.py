"""Where it runs: the Overlord REST client and the Overlord simulator.

Client: `HttpOverlord` (typed calls; HTTP in `transport`, paths in `endpoints`, error mapping
in `failures`, models in `models`). Simulator: `Simulator` with `SimConfig`, `ClusterConfig`
and `Faults`, served by `serve()` or `druid-orch sim`; scenarios in `overlord/scenarios/`.
"""

from overlord.auth import BasicAuth, BearerAuth
from overlord.client import HttpOverlord
from overlord.errors import (
    OverlordAuthError,
    OverlordCertificateError,
    OverlordConfigError,
    OverlordError,
    OverlordProtocolError,
    OverlordRejectedError,
    OverlordTimeoutError,
    OverlordUnavailableError,
    SupervisorNotFoundError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)
from overlord.sim_tasks import ClusterConfig
from overlord.simulator import Faults, SimConfig, Simulator, serve
from overlord.transport import RetryPolicy

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "ClusterConfig",
    "Faults",
    "HttpOverlord",
    "OverlordAuthError",
    "OverlordCertificateError",
    "OverlordConfigError",
    "OverlordError",
    "OverlordProtocolError",
    "OverlordRejectedError",
    "OverlordTimeoutError",
    "OverlordUnavailableError",
    "RetryPolicy",
    "SimConfig",
    "Simulator",
    "SupervisorNotFoundError",
    "TaskAlreadyExistsError",
    "TaskNotFoundError",
    "serve",
]
