"""Overlord URLs: the display form never holds a password, however the URL is written, and a
URL or CA bundle the client cannot use is refused when the client is built."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from overlord.auth import BasicAuth
from overlord.client import HttpOverlord
from overlord.errors import OverlordConfigError
from overlord.failures import from_transport
from overlord.transport import split_credentials
from overlord.urls import check_base_url, display_url, scrub_urls

PASSWORD = "Zq9-never-shown"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://o:8090", "http://o:8090"),
        ("https://o:8281/druid", "https://o:8281/druid"),
        (f"http://admin:{PASSWORD}@o:8091", "http://***@o:8091"),
        (f"http://admin:pa#{PASSWORD}@o:8091", "http://***@o:8091"),
        (f"http://admin:pa/{PASSWORD}@o:8091/x", "http://***@o:8091/x"),
        (f"http://admin:pa?{PASSWORD}@o:8091", "http://***@o:8091"),
        (f"http://admin:p@{PASSWORD}@o:8091", "http://***@o:8091"),
        (f"admin:{PASSWORD}@o:8091", "***@o:8091"),
        (f"admin:p://{PASSWORD}@o:8091", "***@o:8091"),
        (f"http://admin:{PASSWORD}@o:99999", "http://***@o:99999"),
        ("127.0.0.1:8090", "127.0.0.1:8090"),
    ],
)
def test_the_display_form_drops_user_info_even_from_a_malformed_url(url: str, shown: str) -> None:
    assert display_url(url) == shown


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("127.0.0.1:8090", "has no scheme"),
        ("localhost:8090", "has no scheme"),
        (f"admin:{PASSWORD}@o:8091", "has no scheme"),
        ("ftp://o:8090", "scheme 'ftp'"),
        ("http://o:99999", "bad port"),
        ("http://o:0", "bad port"),
        ("http://o:eighty", "bad port"),
        (f"http://admin:{PASSWORD}@o:99999", "bad port"),
        ("http://", "no host"),
        ("http://:8090", "no host"),
        ("http://[::1:8090", "not a valid URL"),
        (f"http://admin:pa#{PASSWORD}@o:8091", "percent-encode"),
        (f"http://admin:pa/{PASSWORD}@o:8091", "percent-encode"),
        (f"http://admin:pa?{PASSWORD}@o:8091", "percent-encode"),
        ("http://o:8090/?x=1", "query or fragment"),
    ],
)
def test_an_unusable_url_is_refused_without_showing_its_password(url: str, problem: str) -> None:
    with pytest.raises(OverlordConfigError) as caught:
        check_base_url(url)
    assert problem in str(caught.value)
    assert PASSWORD not in str(caught.value)
    error = caught.value
    assert error.__cause__ is None, "a chained error could quote the URL"
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(
    "url", ["http://o:8090", "https://[::1]:8281", "http://o/druid/", f"http://u:{PASSWORD}@o"]
)
def test_a_usable_url_passes(url: str) -> None:
    check_base_url(url)


def test_percent_encoded_credentials_are_decoded_into_basic_auth() -> None:
    url, auth = split_credentials("http://admin:pa%23Zq9%2F@o:8091")
    assert url == "http://o:8091"
    assert isinstance(auth, BasicAuth)
    assert auth._header == BasicAuth("admin", "pa#Zq9/")._header


async def test_the_client_refuses_a_malformed_url_or_coordinator_url_when_built() -> None:
    with pytest.raises(OverlordConfigError, match="percent-encode") as caught:
        HttpOverlord(f"http://admin:pa#{PASSWORD}@127.0.0.1:8091")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(OverlordConfigError, match="bad port"):
        HttpOverlord("http://o:8090", coordinator_url="http://c:99999")
    with pytest.raises(ValueError, match="has no scheme"):  # still a ValueError, as before
        HttpOverlord("127.0.0.1:8090")


async def test_a_missing_or_empty_ca_bundle_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.pem"
    with pytest.raises(OverlordConfigError, match="cannot load the CA bundle") as caught:
        HttpOverlord("https://o:8281", ca_bundle=str(missing))
    assert str(missing) in str(caught.value)
    assert "No such file" in str(caught.value)
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(OverlordConfigError, match=str(empty)):
        HttpOverlord("https://o:8281", ca_bundle=str(empty))


def failed(exc: BaseException, origin: str = "http://o") -> str:
    error = from_transport(
        exc, method="GET", path="/p", endpoint="tasks", origin=origin, timeout_s=1.0
    )
    return str(error)


def test_transport_errors_never_quote_user_info_from_the_url() -> None:
    leaked = f"http://admin:pa#{PASSWORD}@o:8091/druid/indexer/v1/tasks"
    messages = [
        failed(aiohttp.InvalidURL(leaked)),
        failed(aiohttp.NonHttpUrlClientError(leaked)),
        failed(TimeoutError(), origin=f"http://admin:{PASSWORD}@o"),
    ]
    for message in messages:
        assert PASSWORD not in message
        assert "***@o" in message


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (
            "ClientError: cannot reach http://admin:pa/ss@o:8081/druid (refused)",
            "ClientError: cannot reach http://***@o:8081/druid (refused)",
        ),
        ("'https://u:p#q@h' and s3://key:sec@bucket/x", "'https://***@h' and s3://***@bucket/x"),
        ("no url here, just user@example.com", "no url here, just user@example.com"),
        ("refused (http://admin:s3(cr)t'x@host:8081)", "refused (http://***@host:8081)"),
        ("http://plain:8081/ok", "http://plain:8081/ok"),
    ],
)
def test_urls_inside_error_text_lose_their_user_info(text: str, scrubbed: str) -> None:
    # Error text goes into the event log, which can never be rewritten.
    assert scrub_urls(text) == scrubbed
