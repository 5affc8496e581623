"""Where it runs: the Overlord (and Coordinator) REST client.

`HttpOverlord` makes typed calls; HTTP lives in `transport`, paths in `endpoints`, error
mapping in `failures`, models in `models`. The simulator is a room of its own,
`overlord.sim`, and importing this package does not load it (nor `aiohttp.web`).
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
from overlord.tls import ClientSettings
from overlord.transport import RequestRetryPolicy

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "ClientSettings",
    "HttpOverlord",
    "OverlordAuthError",
    "OverlordCertificateError",
    "OverlordConfigError",
    "OverlordError",
    "OverlordProtocolError",
    "OverlordRejectedError",
    "OverlordTimeoutError",
    "OverlordUnavailableError",
    "RequestRetryPolicy",
    "SupervisorNotFoundError",
    "TaskAlreadyExistsError",
    "TaskNotFoundError",
]
