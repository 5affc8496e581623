"""The one mapping from failed calls to typed errors: every error body format, every
status class, and transport exceptions."""

from __future__ import annotations

import aiohttp
import pytest

from overlord.errors import (
    OverlordAuthError,
    OverlordError,
    OverlordProtocolError,
    OverlordRejectedError,
    OverlordTimeoutError,
    OverlordUnavailableError,
    SupervisorNotFoundError,
    TaskAlreadyExistsError,
    TaskNotFoundError,
)
from overlord.failures import ErrorBody, from_response, from_transport, parse_error_body


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"", "", ErrorBody()),
        (b"  \n", "text/plain", ErrorBody()),
        (
            b"No Task IDs provided.",
            "application/json",
            ErrorBody(message="No Task IDs provided.", kind="text"),
        ),
        (b'{"error": "legacy"}', "", ErrorBody(message="legacy", kind="legacy")),
        (
            b'{"error":"druidException","errorCode":"notFound","errorMessage":"gone","context":{}}',
            "",
            ErrorBody(error_code="notFound", message="gone", kind="druid_exception"),
        ),
        (
            b'{"Access-Check-Result": "Unauthorized"}',
            "",
            ErrorBody(message="Unauthorized", kind="access_check"),
        ),
        (
            b'{"error":"Unauthorized request","errorMessage":null,"errorClass":null,"host":"h"}',
            "",
            ErrorBody(message="Unauthorized request", kind="legacy"),
        ),
        (
            b"<html><title>Error 401 Unauthorized</title></html>",
            "text/html",
            ErrorBody(message="Error 401 Unauthorized", kind="html"),
        ),
        (b"<html><body>no title</body></html>", "text/html", ErrorBody(kind="html")),
        (b'{"task": "t", "status": null}', "", ErrorBody(kind="json")),
        (b'{"error": 3}', "", ErrorBody(kind="json")),
        (b'{"broken', "", ErrorBody(message='{"broken', kind="text")),
    ],
)
def test_every_error_body_format_is_read(
    body: bytes, content_type: str, expected: ErrorBody
) -> None:
    assert parse_error_body(body, content_type) == expected


def _error(status: int, body: bytes, ct: str = "application/json", **ids: str) -> OverlordError:
    return from_response(
        method="GET", path="/p", endpoint="e", status=status, body=body, content_type=ct, **ids
    )


@pytest.mark.parametrize(
    ("status", "body", "error_type", "retryable", "applied"),
    [
        (400, b'{"error": "bad spec"}', OverlordRejectedError, False, False),
        (401, b"", OverlordAuthError, False, False),
        (403, b'{"Access-Check-Result": "no"}', OverlordAuthError, False, False),
        (404, b"", OverlordRejectedError, False, False),
        (415, b"", OverlordRejectedError, False, False),
        (429, b"{}", OverlordUnavailableError, True, False),
        (500, b"", OverlordUnavailableError, True, True),
        (502, b"<html></html>", OverlordUnavailableError, True, True),
        (503, b"", OverlordUnavailableError, True, False),
        (504, b"", OverlordUnavailableError, True, True),
        (302, b"", OverlordProtocolError, True, False),
    ],
)
def test_each_status_maps_to_its_error_class_and_flags(
    status: int, body: bytes, error_type: type[OverlordError], retryable: bool, applied: bool
) -> None:
    error = _error(status, body)
    assert type(error) is error_type
    assert error.retryable is retryable
    assert error.maybe_applied is applied
    assert error.status == status
    assert "e: GET /p answered HTTP" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":"druidException","errorCode":"entryAlreadyExists","persona":"USER",'
        b'"category":"INVALID_INPUT","errorMessage":"Task[a b] already exists","context":{}}',
        b'{"error":"druidException","errorCode":"invalidInput","persona":"USER",'
        b'"category":"INVALID_INPUT","errorMessage":"Task [a b] already exists","context":{}}',
        b'{"error": "Task [a b] already exists."}',
        b'{"error": "Task[a b] already exists!"}',
    ],
)
def test_all_duplicate_id_bodies_mean_already_submitted(body: bytes) -> None:
    error = _error(400, body)
    assert isinstance(error, TaskAlreadyExistsError)
    assert error.task_id == "a b"


def test_a_duplicate_looking_message_with_another_code_or_status_is_not_a_duplicate() -> None:
    other_code = (
        b'{"error":"druidException","errorCode":"general","errorMessage":"Task[x] already exists"}'
    )
    assert not isinstance(_error(400, other_code), TaskAlreadyExistsError)
    assert not isinstance(
        _error(500, b'{"error": "Task[x] already exists"}'), TaskAlreadyExistsError
    )
    assert not isinstance(
        _error(400, b"Task[x] already exists", "text/plain"), TaskAlreadyExistsError
    )


def test_not_found_answers_name_the_task_or_supervisor() -> None:
    text = _error(404, b"Cannot find any task with id: [t1]", "text/plain")
    assert isinstance(text, TaskNotFoundError)
    assert text.task_id == "t1"
    race = _error(404, b'{"task": "t2", "payload": null}', task_id="t2")
    assert isinstance(race, TaskNotFoundError)
    sup = _error(404, b"Cannot find any supervisor with id: [s1]", "text/plain")
    assert isinstance(sup, SupervisorNotFoundError)
    assert sup.supervisor_id == "s1"
    legacy = _error(404, b'{"error": "[s2] does not exist"}', supervisor_id="s2")
    assert isinstance(legacy, SupervisorNotFoundError)
    assert type(_error(404, b"No task reports were found", "text/plain")) is OverlordRejectedError


def test_transport_failures_say_whether_the_request_may_have_been_applied() -> None:
    timeout = from_transport(
        TimeoutError(), method="POST", path="/p", endpoint="submit", origin="http://o", timeout_s=2
    )
    assert isinstance(timeout, OverlordTimeoutError)
    assert timeout.maybe_applied
    assert "within 2s" in str(timeout)
    dropped = from_transport(
        aiohttp.ServerDisconnectedError(),
        method="POST",
        path="/p",
        endpoint="submit",
        origin="http://o",
        timeout_s=2,
    )
    assert isinstance(dropped, OverlordUnavailableError)
    assert dropped.maybe_applied
    assert "ServerDisconnectedError" in str(dropped)


@pytest.mark.parametrize("status", [404, 405])
@pytest.mark.parametrize("endpoint", ["submit", "tasks", "bulk_status"])
def test_no_such_route_on_an_endpoint_every_overlord_has_means_a_wrong_url_not_a_bad_spec(
    status: int, endpoint: str
) -> None:
    # A web server that is not the Overlord (wrong port, missing path prefix, a proxy without
    # the route): nothing was applied, and a job must not end as if its spec were refused.
    error = from_response(
        method="POST",
        path="/druid/indexer/v1/task",
        endpoint=endpoint,
        status=status,
        body=b"<html><body>Not Found</body></html>",
        content_type="text/html",
    )
    assert type(error) is OverlordUnavailableError
    assert error.retryable
    assert not error.maybe_applied
    assert "is the configured URL the Overlord's" in str(error)
