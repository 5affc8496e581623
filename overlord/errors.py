"""The Overlord client's error tree.

Every failure of an Overlord call becomes one of these, in one place (`overlord.failures`),
carrying the HTTP status, the Druid error code and message when there is one, the endpoint
name, and a short snippet of the body. `retryable` tells the caller whether trying again can
help; `maybe_applied` whether the request may have taken effect even though it failed (a
timeout after the body was sent), which is what decides whether a `POST /task` may be re-sent.

    OverlordError
    ├── OverlordConfigError        a URL or CA bundle the client cannot use (at construction)
    ├── OverlordUnavailableError   transport errors, 5xx, 503 no leader, 429 (retryable)
    │   └── OverlordTimeoutError   no answer within the request timeout
    ├── OverlordProtocolError      a reply we cannot decode (garbled JSON, HTML, wrong types)
    ├── OverlordCertificateError   the server's TLS certificate is not trusted (not retryable)
    └── OverlordRejectedError      4xx: the request itself is wrong (not retryable)
        ├── OverlordAuthError      401 / 403
        ├── TaskNotFoundError      404 "Cannot find any task with id"
        ├── SupervisorNotFoundError
        └── TaskAlreadyExistsError 400 duplicate task id: "already submitted"

Messages and reprs never contain credentials: the client strips user info from URLs and never
copies request headers into an error.
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
        maybe_applied: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.status = status
        self.error_code = error_code
        self.druid_message = druid_message
        self.body_snippet = body_snippet
        self.maybe_applied = maybe_applied
        super().__init__(message)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self)!r}, endpoint={self.endpoint!r}, "
            f"status={self.status!r}, error_code={self.error_code!r})"
        )


class OverlordConfigError(OverlordError, ValueError):
    """The client was given a setting it cannot use: a malformed URL, an unreadable CA bundle.

    Raised when the client is built, before any request. Also a `ValueError`, which is what
    these settings raised before they were checked.
    """


class OverlordUnavailableError(OverlordError):
    """The Overlord could not be reached or could not serve the request right now."""

    retryable: ClassVar[bool] = True


class OverlordTimeoutError(OverlordUnavailableError):
    """No complete answer within the request timeout; the request may have been applied."""


class OverlordProtocolError(OverlordError):
    """The Overlord (or a proxy in front of it) answered something we cannot decode.

    Retryable, because the usual cause is a proxy's error page during a restart; a body that
    stays undecodable keeps failing and the caller's retry limit stops it.
    """

    retryable: ClassVar[bool] = True


class OverlordCertificateError(OverlordError):
    """TLS verification of the Overlord's certificate failed: a trust or configuration
    problem (wrong CA bundle, wrong host name), which retrying cannot fix."""

    retryable: ClassVar[bool] = False


class OverlordRejectedError(OverlordError):
    """The Overlord refused the request itself (4xx); sending it again will not help."""

    retryable: ClassVar[bool] = False


class OverlordAuthError(OverlordRejectedError):
    """401 (no or wrong credentials) or 403 (authenticated but not permitted)."""


class TaskNotFoundError(OverlordRejectedError):
    """The Overlord stores no task with this id (404 on any `/task/{id}` path)."""

    def __init__(
        self,
        task_id: str,
        *,
        endpoint: str = "",
        status: int | None = 404,
        error_code: str | None = None,
        druid_message: str | None = None,
        body_snippet: str = "",
    ) -> None:
        self.task_id = task_id
        super().__init__(
            f"the Overlord has no task {task_id!r} ({endpoint or 'task'} answered {status})",
            endpoint=endpoint,
            status=status,
            error_code=error_code,
            druid_message=druid_message,
            body_snippet=body_snippet,
        )


class SupervisorNotFoundError(OverlordRejectedError):
    """The Overlord has no supervisor with this id."""

    def __init__(
        self,
        supervisor_id: str,
        *,
        endpoint: str = "",
        status: int | None = 404,
        error_code: str | None = None,
        druid_message: str | None = None,
        body_snippet: str = "",
    ) -> None:
        self.supervisor_id = supervisor_id
        super().__init__(
            f"the Overlord has no supervisor {supervisor_id!r} "
            f"({endpoint or 'supervisor'} answered {status})",
            endpoint=endpoint,
            status=status,
            error_code=error_code,
            druid_message=druid_message,
            body_snippet=body_snippet,
        )


class TaskAlreadyExistsError(OverlordRejectedError):
    """`POST /task` with an id the Overlord already stores (running or finished).

    For the caller this means "already submitted": look the task up instead of resubmitting.
    """

    def __init__(
        self,
        task_id: str,
        *,
        endpoint: str = "submit",
        status: int | None = 400,
        error_code: str | None = None,
        druid_message: str | None = None,
        body_snippet: str = "",
    ) -> None:
        self.task_id = task_id
        super().__init__(
            f"the Overlord already has a task {task_id!r} (HTTP {status}: {druid_message})",
            endpoint=endpoint,
            status=status,
            error_code=error_code,
            druid_message=druid_message,
            body_snippet=body_snippet,
        )
