"""Where it runs: the Overlord REST client and the Overlord simulator."""

from overlord.auth import BasicAuth, BearerAuth
from overlord.client import HttpOverlord
from overlord.errors import (
    OverlordError,
    OverlordRejectedError,
    OverlordUnavailableError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "HttpOverlord",
    "OverlordError",
    "OverlordRejectedError",
    "OverlordUnavailableError",
    "TaskAlreadyExistsError",
    "TaskNotFoundError",
]
