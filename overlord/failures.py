"""The one place where a failed Overlord call becomes an `overlord.errors` exception.

Druid answers errors in several shapes (REFERENCE.md §2): the DruidException object, the
legacy `{"error": ...}` object, `{"Access-Check-Result": ...}`, plain text, Jetty HTML pages
and empty bodies. `parse_error_body` reads all of them; `from_response` then picks the error
class from the status and what the body says, and `from_transport` does the same for aiohttp
and timeout exceptions. Nothing here does IO.
"""

from __future__ import annotations

import re
from typing import TypedDict

import aiohttp
import msgspec

from overlord.errors import (
    OverlordAuthError,
    OverlordCertificateError,
    OverlordError,
    OverlordProtocolError,
    OverlordRejectedError,
    OverlordTimeoutError,
    OverlordUnavailableError,
    SupervisorNotFoundError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)
from overlord.urls import display_url

SNIPPET_BYTES = 300
# All four historical duplicate-id texts (REFERENCE §3.2): "Task[x] already exists" (30+),
# "Task [x] already exists" (30+ race), "Task [x] already exists." (27-29), "...!" (<= 26).
_DUPLICATE = re.compile(r"^Task ?\[(?P<id>.*)\] already exists[.!]?$", re.DOTALL)
_DUPLICATE_CODES = (None, "entryAlreadyExists", "invalidInput")
_MISSING_TASK = re.compile(r"^Cannot find any task with id: \[(?P<id>.*)\]$", re.DOTALL)
_MISSING_SUPERVISOR = re.compile(
    r"^(?:Cannot find any supervisor with id: \[(?P<id>.*)\]|\[(?P<id2>.*)\] does not exist.*)$",
    re.DOTALL,
)
_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class ErrorBody(msgspec.Struct, frozen=True):
    """What an error body says, whatever its format."""

    error_code: str | None = None
    message: str | None = None
    kind: str = "empty"  # druid_exception | legacy | access_check | text | html | json | empty


class _Facts(TypedDict):
    endpoint: str
    status: int
    error_code: str | None
    druid_message: str | None
    body_snippet: str


class _JsonError(msgspec.Struct):
    error: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None


def snippet(body: bytes) -> str:
    """The start of a body, for error messages (bounded, never raises)."""
    return body[:SNIPPET_BYTES].decode("utf-8", errors="replace")


def parse_error_body(body: bytes, content_type: str) -> ErrorBody:
    """Read an error body in any of the formats Druid (or a proxy in front of it) uses."""
    stripped = body.strip()
    if not stripped:
        return ErrorBody()
    if stripped[:1] == b"<" or "html" in content_type.lower():
        title = _TITLE.search(stripped)
        text = title.group(1).decode("utf-8", "replace").strip() if title else None
        return ErrorBody(message=text, kind="html")
    if stripped[:1] == b"{":
        try:
            parsed = msgspec.json.decode(stripped)
        except msgspec.DecodeError:
            return ErrorBody(message=snippet(stripped), kind="text")
        if isinstance(parsed, dict):
            return _from_json_object(parsed)
        return ErrorBody(kind="json")
    return ErrorBody(message=stripped.decode("utf-8", "replace")[:2000], kind="text")


def _from_json_object(parsed: dict[str, object]) -> ErrorBody:
    access = parsed.get("Access-Check-Result")
    if isinstance(access, str):
        return ErrorBody(message=access, kind="access_check")
    try:
        fields = msgspec.convert(parsed, _JsonError)
    except msgspec.ValidationError:
        return ErrorBody(kind="json")
    if fields.error == "druidException":
        return ErrorBody(
            error_code=fields.errorCode, message=fields.errorMessage, kind="druid_exception"
        )
    if fields.error is not None or fields.errorMessage is not None:
        return ErrorBody(message=fields.error or fields.errorMessage, kind="legacy")
    return ErrorBody(kind="json")


# Endpoints that exist on every Overlord and take no id: a 404 or 405 from one of them
# comes from something else at that URL.
_NEVER_NOT_FOUND = frozenset({"submit", "tasks", "bulk_status"})


def from_response(
    *,
    method: str,
    path: str,
    endpoint: str,
    status: int,
    body: bytes,
    content_type: str,
    task_id: str | None = None,
    supervisor_id: str | None = None,
) -> OverlordError:
    """The error for a non-2xx answer."""
    parsed = parse_error_body(body, content_type)
    message = parsed.message
    facts: _Facts = {
        "endpoint": endpoint,
        "status": status,
        "error_code": parsed.error_code,
        "druid_message": message if parsed.kind != "html" else None,
        "body_snippet": snippet(body),
    }
    described = f"{endpoint}: {method} {path} answered HTTP {status}"
    if message:
        described += f" ({parsed.kind}): {message}"
    elif body.strip():
        described += f"; body starts {snippet(body)[:120]!r}"
    else:
        described += " with an empty body"
    if status == 400 and message and parsed.error_code in _DUPLICATE_CODES:
        duplicate = _DUPLICATE.match(message)
        if duplicate is not None and parsed.kind in ("druid_exception", "legacy"):
            return TaskAlreadyExistsError(duplicate.group("id"), **facts)
    if status == 404:
        missing = _not_found(parsed, body, endpoint, task_id, supervisor_id, facts)
        if missing is not None:
            return missing
    if status in (404, 405) and endpoint in _NEVER_NOT_FOUND:
        # Druid itself never answers so here: the URL does not lead to an Overlord (a wrong
        # host, port or path prefix, or a proxy without the route). Nothing was applied, and
        # the spec is not to blame, so this must not end a job as a rejection would.
        return OverlordUnavailableError(
            described + "; is the configured URL the Overlord's (or a Router's) root?", **facts
        )
    if status in (401, 403):
        return OverlordAuthError(described, **facts)
    if status in (429, 503):
        # Both are answered before Druid touches the request: it was not applied.
        return OverlordUnavailableError(described, **facts)
    if status >= 500:
        return OverlordUnavailableError(described, maybe_applied=True, **facts)
    if 300 <= status < 400:
        return OverlordProtocolError(
            described + "; a redirect the client could not follow", **facts
        )
    return OverlordRejectedError(described, **facts)


def _not_found(
    parsed: ErrorBody,
    body: bytes,
    endpoint: str,
    task_id: str | None,
    supervisor_id: str | None,
    facts: _Facts,
) -> OverlordError | None:
    message = parsed.message or ""
    task = _MISSING_TASK.match(message) if parsed.kind == "text" else None
    if task is not None:
        return TaskNotFoundError(task_id or task.group("id"), **facts)
    if task_id is not None and parsed.kind == "json" and b'"task"' in body:
        # The resource-level 404 of a lookup race: {"task": id, "status"|"payload": null}.
        return TaskNotFoundError(task_id, **facts)
    supervisor = _MISSING_SUPERVISOR.match(message) if parsed.kind in ("text", "legacy") else None
    if supervisor is not None:
        sid = supervisor_id or supervisor.group("id") or supervisor.group("id2") or ""
        return SupervisorNotFoundError(sid, **facts)
    return None


def from_transport(
    exc: BaseException, *, method: str, path: str, endpoint: str, origin: str, timeout_s: float
) -> OverlordError:
    """The error for an exception raised while sending or reading (no complete answer).

    The URL, in `origin` and in aiohttp's own text, is shown by `display_url`: a URL that
    slipped past `check_base_url` (a redirect's `Location`) could still carry user info.
    """
    origin = display_url(origin)
    if isinstance(exc, TimeoutError):
        return OverlordTimeoutError(
            f"{endpoint}: {method} {path} got no complete answer from {origin} within "
            f"{timeout_s:g}s",
            endpoint=endpoint,
            maybe_applied=True,
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return OverlordCertificateError(
            f"{endpoint}: {method} {path}: TLS verification of {origin} failed "
            f"({exc}); pass ca_bundle= with the CA that signed its certificate",
            endpoint=endpoint,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Never reached the server: even a POST /task may be sent again.
        return OverlordUnavailableError(
            f"{endpoint}: {method} {path}: cannot connect to {origin}: "
            f"{exc.os_error.strerror or type(exc.os_error).__name__}",
            endpoint=endpoint,
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return OverlordRejectedError(
            f"{endpoint}: {method} {path}: the URL is not valid: {display_url(str(exc))}",
            endpoint=endpoint,
        )
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.NonHttpUrlClientError):  # its text is the whole URL
        detail = display_url(detail)
    return OverlordUnavailableError(
        f"{endpoint}: {method} {path} to {origin} failed in transit "
        f"({type(exc).__name__}: {detail})",
        endpoint=endpoint,
        maybe_applied=True,
    )


def protocol_error(
    endpoint: str, status: int, body: bytes, problem: str, content_type: str = ""
) -> OverlordProtocolError:
    """A 2xx answer we cannot use: the endpoint, the problem and the start of the body."""
    kind = f" ({content_type})" if content_type else ""
    return OverlordProtocolError(
        f"{endpoint}: cannot use the Overlord's HTTP {status} reply{kind}: {problem}; "
        f"body starts {snippet(body)[:120]!r}",
        endpoint=endpoint,
        status=status,
        body_snippet=snippet(body),
    )
