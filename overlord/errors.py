"""The Overlord client's error tree.

Every failure of an Overlord call becomes one of these, in one place (`overlord.client`), with
the HTTP status, the Druid error code and message when there is one, the endpoint, and a short
snippet of the body. `retryable` tells the caller whether trying again can help.

    OverlordError
    ├── OverlordUnavailableError   transport errors, timeouts, 5xx, 503 no leader, 429 (retryable)
    ├── OverlordProtocolError      a reply we cannot decode (garbled JSON, HTML, wrong types)
    └── OverlordRejectedError      4xx: the request itself is wrong (not retryable)
        ├── OverlordAuthError      401 / 403
        ├── TaskNotFoundError      404 "Cannot find any task with id"
        ├── SupervisorNotFoundError
        └── TaskAlreadyExistsError 400 duplicate task id: "already submitted"
"""

from __future__ import annotations

from typing import ClassVar


class OverlordError(Exception):
    """Base of every Overlord client error."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int | None = None,
        error_code: str | None = None,
        druid_message: str | None = None,
        body_snippet: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.error_code = error_code
        self.druid_message = druid_message
        self.body_snippet = body_snippet
        super().__init__(message)


class OverlordUnavailableError(OverlordError):
    retryable: ClassVar[bool] = True


class OverlordProtocolError(OverlordError):
    """The Overlord (or a proxy in front of it) answered something we cannot decode."""

    retryable: ClassVar[bool] = True


class OverlordRejectedError(OverlordError):
    retryable: ClassVar[bool] = False


class OverlordAuthError(OverlordRejectedError):
    pass


class TaskNotFoundError(OverlordRejectedError):
    def __init__(self, task_id: str, **kwargs: object) -> None:
        self.task_id = task_id
        super().__init__(f"the Overlord has no task {task_id!r}", **kwargs)  # type: ignore[arg-type]


class SupervisorNotFoundError(OverlordRejectedError):
    def __init__(self, supervisor_id: str, **kwargs: object) -> None:
        self.supervisor_id = supervisor_id
        super().__init__(f"the Overlord has no supervisor {supervisor_id!r}", **kwargs)  # type: ignore[arg-type]


class TaskAlreadyExistsError(OverlordRejectedError):
    """`POST /task` with an id the Overlord already stores (running or finished)."""

    def __init__(self, task_id: str, **kwargs: object) -> None:
        self.task_id = task_id
        super().__init__(f"the Overlord already has a task {task_id!r}", **kwargs)  # type: ignore[arg-type]
