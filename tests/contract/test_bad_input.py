"""Answers no healthy Overlord gives — garbled JSON, wrong types, missing fields, HTML error
pages, silence, dropped connections, endless redirects — become typed errors that name the
endpoint and quote the body. Never a crash, never a hang (every test has a deadline)."""

from __future__ import annotations

import asyncio

import pytest

from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import (
    OverlordProtocolError,
    OverlordRejectedError,
    OverlordTimeoutError,
    OverlordUnavailableError,
)

from .support import Canned, ReplayServer

Replay = tuple[ReplayServer, HttpOverlord]
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize(
    ("call", "body", "problem"),
    [
        ("status", b'{"task": "t", "status": {"id": "t", "statusCo', "truncated"),
        ("status", b'{"task": "t", "status": {"id": "t"}}', "missing required field"),
        ("status", b'{"task": "t", "status": {"id": "t", "statusCode": "DONE"}}', "DONE"),
        ("bulk_status", b'{"t": {"id": "t", "status": "SUCCESS", "duration": "long"}}', "int"),
        ("tasks", b'{"not": "a list"}', "Expected `array`"),
        ("workers", b"[{}]", "missing required field"),
        ("total_capacity", b"null", "Expected `object`"),
        ("health", b"yes", "malformed"),
    ],
)
async def test_an_undecodable_body_is_a_protocol_error_naming_the_endpoint_and_quoting_it(
    replay_client: Replay, call: str, body: bytes, problem: str
) -> None:
    canned, client = replay_client
    canned.push(Canned(200, body))
    args = (["t"],) if call == "bulk_status" else ("t",) if call == "status" else ()
    async with asyncio.timeout(5):
        with pytest.raises(OverlordProtocolError) as caught:
            await getattr(client, call)(*args)
    error = caught.value
    assert error.endpoint == call
    assert error.status == 200
    assert error.body_snippet == body.decode("utf-8", "replace")[:300]
    assert problem.lower() in str(error).lower()
    assert call in str(error)


async def test_an_html_page_with_a_200_from_a_proxy_is_a_protocol_error(
    replay_client: Replay,
) -> None:
    canned, client = replay_client
    canned.push(Canned(200, b"<html><body>Please log in</body></html>", "text/html"))
    with pytest.raises(OverlordProtocolError) as caught:
        await client.tasks()
    assert "text/html" in str(caught.value)
    assert "Please log in" in caught.value.body_snippet


async def test_an_html_error_page_is_mapped_by_its_status_with_its_title(
    replay_client: Replay,
) -> None:
    canned, client = replay_client
    canned.push(*[Canned(502, HTML, "text/html")] * 3)
    with pytest.raises(OverlordUnavailableError) as caught:
        await client.status("t")
    error = caught.value
    assert error.status == 502
    assert error.druid_message is None, "an HTML page is not a Druid message"
    assert "502 Bad Gateway" in str(error)
    assert len(canned.seen) == 3, "a GET is retried on 5xx"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error_type", "code", "message"),
    [
        (400, b"", None, OverlordRejectedError, None, None),
        (400, b"just some text", "text/plain", OverlordRejectedError, None, "just some text"),
        (400, b'{"error": "legacy words"}', None, OverlordRejectedError, None, "legacy words"),
        (
            400,
            b'{"error":"druidException","errorCode":"invalidInput","persona":"USER",'
            b'"category":"INVALID_INPUT","errorMessage":"bad thing","context":{}}',
            None,
            OverlordRejectedError,
            "invalidInput",
            "bad thing",
        ),
        (409, b'{"error": ', None, OverlordRejectedError, None, '{"error":'),
        (418, b"[1, 2]", None, OverlordRejectedError, None, "[1, 2]"),
    ],
)
async def test_every_error_body_format_keeps_status_code_and_message(
    replay_client: Replay,
    status: int,
    body: bytes,
    content_type: str | None,
    error_type: type[Exception],
    code: str | None,
    message: str | None,
) -> None:
    canned, client = replay_client
    canned.push(Canned(status, body, content_type))
    with pytest.raises(error_type) as caught:
        await client.submit({"type": "noop"})
    error = caught.value
    assert isinstance(error, OverlordRejectedError)
    assert error.status == status
    assert error.error_code == code
    assert error.druid_message == message
    assert error.endpoint == "submit"
    assert str(status) in str(error)


async def test_an_overlord_that_never_answers_times_out_instead_of_hanging(
    replay: tuple[ReplayServer, str],
) -> None:
    canned, url = replay
    canned.push(*[Canned(200, b"true", delay_s=5.0)] * 2)
    async with HttpOverlord(
        url, timeout_s=0.2, retry=RequestRetryPolicy(attempts=2, base_s=0.01)
    ) as c:
        async with asyncio.timeout(3):
            with pytest.raises(OverlordTimeoutError) as caught:
                await c.health()
    assert caught.value.retryable
    assert caught.value.maybe_applied
    assert "0.2s" in str(caught.value)


async def test_a_dropped_connection_is_unavailable_and_a_get_is_retried_through_it(
    replay_client: Replay,
) -> None:
    canned, client = replay_client
    canned.push(Canned(drop=True), Canned(200, b"true"))
    assert await client.health() is True
    assert len(canned.seen) == 2


async def test_a_submission_whose_connection_drops_is_not_sent_again(
    replay_client: Replay,
) -> None:
    canned, client = replay_client
    canned.push(Canned(drop=True), Canned(200, b'{"task": "t"}'))
    with pytest.raises(OverlordUnavailableError) as caught:
        await client.submit({"type": "noop", "id": "t"})
    assert caught.value.maybe_applied
    assert len(canned.seen) == 1, "the task may exist: the caller must decide"


async def test_a_refused_connection_is_unavailable_and_names_the_host() -> None:
    async with HttpOverlord(
        "http://127.0.0.1:9", retry=RequestRetryPolicy(attempts=2, base_s=0.01)
    ) as c:
        with pytest.raises(OverlordUnavailableError) as caught:
            await c.submit({"type": "noop"})
    assert "cannot connect to http://127.0.0.1:9" in str(caught.value)
    assert not caught.value.maybe_applied


async def test_endless_redirects_stop_with_a_protocol_error(replay_client: Replay) -> None:
    canned, client = replay_client
    canned.default = Canned(307, b"", headers={"Location": "/druid/indexer/v1/tasks"})
    with pytest.raises(OverlordProtocolError) as caught:
        await client.tasks()
    assert "redirected more than 5 times" in str(caught.value)


async def test_a_redirect_from_https_to_http_is_refused_so_credentials_stay_private() -> None:
    from overlord.endpoints import STATUS
    from overlord.transport import Transport

    transport = Transport(
        "https://overlord:8281",
        coordinator_url=None,
        auth=None,
        timeout_s=1,
        verify_tls=True,
        ca_bundle=None,
        retry=RequestRetryPolicy(),
        session=None,
        max_connections=1,
        rng=None,
    )
    with pytest.raises(OverlordProtocolError) as caught:
        transport._redirect(STATUS, "https://overlord:8281/x", "http://evil:80/x", "/x")
    assert "refusing to send credentials in the clear" in str(caught.value)
    await transport.close()
