"""The one place the Overlord client does HTTP.

`Transport.call` joins the base URL with an `overlord.endpoints` path, applies auth, sends with
a per-request timeout on the one shared `ClientSession` (pooling, keep-alive), follows standby
redirects, retries what may be retried, and turns every failure into an `overlord.errors`
exception through `overlord.failures`.

Retries use exponential backoff with full jitter and a bounded number of attempts. A failure
is retried when it is `retryable` and either the endpoint is idempotent or the request cannot
have been applied (the connection was refused, or Druid answered 429/503 before touching it).
So a `POST /task` whose request may have reached the Overlord is never sent again here: the
task actor decides, from its write-ahead intent and the duplicate-id answer.

Standby Overlords answer 307 with the leader's URL (REFERENCE §1.2). The transport re-sends
the same method and body there and remembers the leader for later calls; when the remembered
leader stops answering (transport error or 503) it goes back to the configured URL, which
redirects to whoever leads now. It refuses to follow a redirect from https to http, which
would send credentials in the clear.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import msgspec

from overlord.auth import AuthHook, BasicAuth, BearerAuth
from overlord.endpoints import Endpoint
from overlord.errors import (
    OverlordConfigError,
    OverlordError,
    OverlordProtocolError,
    OverlordUnavailableError,
)
from overlord.failures import from_response, from_transport, protocol_error
from overlord.tls import ssl_context, trusted_hosts, warn_about_settings
from overlord.urls import check_base_url, display_url

MAX_REDIRECTS = 5
T = TypeVar("T")


class RequestRetryPolicy(msgspec.Struct, frozen=True):
    """Bounded exponential backoff with full jitter for retryable failures."""

    attempts: int = 4
    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * (2**attempt)))


class Reply(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    content_type: str


def split_credentials(url: str) -> tuple[str, BasicAuth | None]:
    """`http://user:pw@host` -> (`http://host`, BasicAuth): user info never stays in a URL
    that could end up in a message or a repr. `url` must have passed `check_base_url`.
    Percent-encoded user info (`pa%23ss` for `pa#ss`) is decoded."""
    parts = urlsplit(url.rstrip("/"))
    if parts.username is None:
        return url.rstrip("/"), None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, BasicAuth(unquote(parts.username), unquote(parts.password or ""))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Transport:
    """Owns the session and the leader's address; every request goes through `call`."""

    def __init__(
        self,
        url: str,
        *,
        coordinator_url: str | None,
        auth: AuthHook | None,
        timeout_s: float,
        verify_tls: bool,
        ca_bundle: str | None,
        client_cert: str | None = None,
        client_key: str | None = None,
        leader_hosts: Iterable[str] | None = None,
        retry: RequestRetryPolicy,
        session: aiohttp.ClientSession | None,
        max_connections: int,
        rng: random.Random | None,
    ) -> None:
        check_base_url(url)
        if coordinator_url is not None:
            check_base_url(coordinator_url)
        self.configured, url_auth = split_credentials(url)
        self.leader = self.configured
        self.coordinator, coord_auth = split_credentials(coordinator_url or self.configured)
        self.auth = auth or url_auth or coord_auth
        self.timeout_s = timeout_s
        self.retry = retry
        self.rng = rng or random.Random()
        self.ssl = ssl_context(verify_tls, ca_bundle, client_cert, client_key)
        # The Coordinator redirects to its own leader too; its configured host is trusted alike.
        self.leader_hosts = trusted_hosts(self.configured, leader_hosts) | trusted_hosts(
            self.coordinator, None
        )
        warn_about_settings(
            self.configured,
            verify_tls=verify_tls,
            ca_bundle=ca_bundle,
            sends_credentials=isinstance(self.auth, BasicAuth | BearerAuth),
        )
        self.session = session
        self.owns_session = session is None
        self.max_connections = max_connections
        self.requests = 0
        self.retries = 0

    async def close(self) -> None:
        if self.session is not None and self.owns_session:
            await self.session.close()
        self.session = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_connections, ssl=self.ssl, keepalive_timeout=30
                ),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            )
        return self.session

    async def call(
        self,
        ep: Endpoint,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
        timeout_s: float | None = None,
        task_id: str | None = None,
        supervisor_id: str | None = None,
    ) -> Reply:
        """Send one logical request; return a 2xx reply (or one whose status is in `accept`).

        Raises:
            OverlordError: the mapped failure, after any retries it was allowed.
        """
        data = msgspec.json.encode(json_body) if json_body is not None else None
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        attempt = 0
        while True:
            if ep.base == "coordinator":
                root = self.coordinator
            else:  # node-local questions (health, leader, isLeader) go to the node configured
                root = self.leader if ep.follows_leader else self.configured
            try:
                reply = await self._send(ep, root, path, data, params, timeout)
            except OverlordError as exc:
                error = exc
            else:
                if 200 <= reply.status < 300 or reply.status in accept:
                    return reply
                error = from_response(
                    method=ep.method,
                    path=path,
                    endpoint=ep.name,
                    status=reply.status,
                    body=reply.body,
                    content_type=reply.content_type,
                    task_id=task_id,
                    supervisor_id=supervisor_id,
                )
            if not self._may_retry(ep, error, attempt):
                raise error
            if ep.base == "overlord" and _leader_lost(error):
                self.leader = self.configured
            await asyncio.sleep(self.retry.delay(attempt, self.rng))
            attempt += 1
            self.retries += 1

    def _may_retry(self, ep: Endpoint, error: OverlordError, attempt: int) -> bool:
        if not error.retryable or attempt + 1 >= self.retry.attempts:
            return False
        if isinstance(error, OverlordProtocolError):
            return ep.idempotent and error.status is not None and error.status >= 500
        return ep.idempotent or not error.maybe_applied

    async def _send(
        self,
        ep: Endpoint,
        root: str,
        path: str,
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout_s: float,
    ) -> Reply:
        url = root + path
        for _hop in range(MAX_REDIRECTS + 1):
            headers = {"Accept": ep.produces}
            if data is not None:
                headers["Content-Type"] = "application/json"
            if self.auth is not None:
                await self.auth(ep.method, url, headers)
            self.requests += 1
            try:
                async with self._session().request(
                    ep.method,
                    url,
                    data=data,
                    params=params,
                    headers=headers,
                    allow_redirects=False,
                    ssl=self.ssl,
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as response:
                    body = await response.read()
                    status = response.status
                    location = response.headers.get("Location")
                    content_type = response.headers.get("Content-Type", "")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise from_transport(
                    exc,
                    method=ep.method,
                    path=path,
                    endpoint=ep.name,
                    origin=origin(url),
                    timeout_s=timeout_s,
                ) from exc
            if status not in (307, 308) or not location or not ep.follows_leader:
                return Reply(status, body, content_type)
            url = self._redirect(ep, url, location, path)
            params = None  # the Location carries the original query string
        raise OverlordProtocolError(
            f"{ep.name}: {ep.method} {path} was redirected more than {MAX_REDIRECTS} times; "
            f"last Location {display_url(origin(url))}",
            endpoint=ep.name,
            status=307,
        )

    def _redirect(self, ep: Endpoint, current: str, location: str, path: str) -> str:
        target = urlsplit(location)
        if not target.scheme:  # a relative Location: same host
            return origin(current) + location
        if urlsplit(current).scheme == "https" and target.scheme != "https":
            raise OverlordProtocolError(
                f"{ep.name}: {ep.method} {path} was redirected from https to "
                f"{target.scheme}://{target.hostname}; refusing to send credentials in the clear",
                endpoint=ep.name,
                status=307,
            )
        host = (target.hostname or "").lower()
        if self.auth is not None and host not in self.leader_hosts:
            raise OverlordConfigError(
                f"{ep.name}: {ep.method} {path} was redirected to {host}, which is not in "
                "overlord.leader_hosts; refusing to send credentials there (list the "
                "Overlord hosts that may lead in overlord.leader_hosts)",
                endpoint=ep.name,
                status=307,
            )
        if ep.base == "overlord":
            self.leader = f"{target.scheme}://{target.netloc}"
        return location


def _leader_lost(error: OverlordError) -> bool:
    return isinstance(error, OverlordUnavailableError) and error.status in (None, 503)


class Caller:
    """What the client's parts share: one `Transport`, which every request goes through."""

    _transport: Transport


def decode(reply: Reply, type_: type[T], endpoint: Endpoint) -> T:
    """Decode a 2xx body into `type_`, or raise `OverlordProtocolError` quoting it."""
    try:
        return msgspec.json.decode(reply.body, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise protocol_error(
            endpoint.name, reply.status, reply.body, str(exc), reply.content_type
        ) from exc


def unexpected(
    reply: Reply,
    endpoint: Endpoint,
    path: str,
    *,
    task_id: str | None = None,
    supervisor_id: str | None = None,
) -> OverlordError:
    """The error for an accepted status whose body is not the one that status allows."""
    return from_response(
        method=endpoint.method,
        path=path,
        endpoint=endpoint.name,
        status=reply.status,
        body=reply.body,
        content_type=reply.content_type,
        task_id=task_id,
        supervisor_id=supervisor_id,
    )
