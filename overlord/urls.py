"""Overlord URLs as users write them: checked before any request, shown without user info.

A URL may carry basic-auth credentials (`http://user:password@host:8081`). `display_url` is
the one way such a URL reaches a log line, an error message, `--check` output or an event.
It does not parse: a password holding `#`, `/` or `?` makes a URL parser end the host part
early and treat the rest as fragment, path or query, so parsed-then-rebuilt URLs keep the
password. Cutting text up to the last `@` works on any input, malformed or not.

`check_base_url` refuses, before anything is sent, what the transport could not use: no
scheme, a scheme other than http(s), no host, a bad port, and an `@` past the host part
(the sign of a password that needs percent-encoding). Its messages show `display_url` only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from overlord.errors import OverlordConfigError

SCHEMES = ("http", "https")
MASKED_USERINFO = "***@"
# RFC 3986 scheme syntax: `admin:pw@host` or `127.0.0.1:8090` must not pass for a scheme.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def display_url(url: str) -> str:
    """`url` with any user info replaced by `***`, safe to log or show, however malformed.

    Everything between `scheme://` (or the start, without a scheme) and the last `@` goes,
    so an `@` in a path or query cuts that too: a shortened URL is better than a password
    in the event log, which can never be rewritten.
    """
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 0
    at = url.rfind("@", start)
    if at < 0:
        return url
    return url[:start] + MASKED_USERINFO + url[at + 1 :]


# Up to whitespace, a double quote or angle brackets only: a password may hold `'`, `(`
# or `)`, and cutting the URL there would leave its tail (and the `@`) unscrubbed.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"<>]+")


def scrub_urls(text: str) -> str:
    """`text` with every URL in it shown by `display_url`: for error text that is about to
    be recorded for good (the event log cannot be rewritten) or logged."""
    return _URL_IN_TEXT.sub(lambda m: display_url(m.group(0)), text)


def check_base_url(url: str) -> None:
    """Refuse a base URL the client cannot use.

    Raises:
        OverlordConfigError: saying what is wrong, with the URL shown by `display_url`.
    """
    shown = display_url(url)
    scheme = _SCHEME.match(url)
    if scheme is None:
        raise OverlordConfigError(f"{shown!r} has no scheme: start it with http:// or https://")
    try:
        parts = urlsplit(url)
    except ValueError:  # its text may quote the user info, so neither it nor its cause is kept
        raise OverlordConfigError(f"{shown!r} is not a valid URL") from None
    if parts.scheme not in SCHEMES:
        raise OverlordConfigError(
            f"{shown!r} has the scheme {parts.scheme!r}: use http:// or https://"
        )
    if "@" in parts.path + parts.query + parts.fragment:
        # Checked before host and port, whose text would be a piece of the password here.
        raise OverlordConfigError(
            f"{shown!r} cannot be parsed: its user info holds '/', '?' or '#' (percent-encode "
            "them as %2F, %3F, %23), or better, give the user and password separately"
        )
    if parts.query or parts.fragment:
        raise OverlordConfigError(
            f"{shown!r} has a query or fragment; the client appends API paths to the base URL"
        )
    if not parts.hostname:
        raise OverlordConfigError(f"{shown!r} has no host")
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range; its text may quote the user info
        port = 0
    if port == 0:
        raise OverlordConfigError(f"{shown!r} has a bad port: give a number from 1 to 65535")
