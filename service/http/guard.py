"""The control API's request guard: what a request must look like before any route sees it.

A browser on the operator's machine can reach a loopback API. Three checks keep a web page
from driving it:

* A state-changing request must say `Content-Type: application/json`. A page can send a
  `text/plain` or form POST without a CORS preflight, but not a JSON one.
* A request carrying an `Origin` (browsers send it on cross-origin requests and on every
  POST) must come from the API's own origin.
* On loopback, the `Host` must be a loopback name or address: DNS rebinding makes a page's own
  origin resolve to 127.0.0.1, but its requests still carry the page's host name.

The body is then read once, within `limits.max_body_bytes`, and its nesting measured within
`limits.max_json_depth`, so no handler decodes more than the bounds allow. Requests over the
Unix socket skip the `Host` check: no browser can reach a socket file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from service.config.checks import is_loopback
from service.limits import BoundExceededError, LimitsSection, check_depth

__all__ = ["MUTATING", "RequestGuard", "host_name"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ENC = msgspec.json.Encoder()


def _refuse(status: int, message: str) -> web.Response:
    return web.Response(
        body=_ENC.encode({"error": message}), status=status, content_type="application/json"
    )


def host_name(host: str) -> str:
    """The name or address of a `Host` header, without its port (`[::1]:80` is `::1`)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() else host


class RequestGuard:
    """Two aiohttp middlewares, `headers` and `body`, to place around the token check;
    `loopback` says the TCP listener is on a loopback address."""

    def __init__(self, limits: LimitsSection, *, loopback: bool) -> None:
        self.limits = limits
        self.loopback = loopback

    @web.middleware
    async def headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Origin, Host, content type and query bounds: before the token is even checked."""
        refused = self._check_origin(request) or self._check_query(request)
        if refused is None and request.method in MUTATING:
            refused = self._check_type(request)
        return refused or await handler(request)

    @web.middleware
    async def body(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The body's size and depth: after the token, so only a caller who may send work
        makes the daemon read one."""
        refused = await self._check_body(request) if request.method in MUTATING else None
        return refused or await handler(request)

    def _check_origin(self, request: web.Request) -> web.Response | None:
        host = request.headers.get("Host")
        if self._rebound(request, host):
            return _refuse(
                421,
                f"Host {host!r} is not a loopback name; the API on loopback answers only "
                "localhost, 127.0.0.1 and [::1]",
            )
        origin = request.headers.get("Origin")
        if origin is not None:
            own = f"{request.scheme}://{host or request.host}".lower()
            if origin.lower() != own:
                return _refuse(403, f"cross-origin requests are refused (Origin {origin!r})")
        return None

    def _rebound(self, request: web.Request, host: str | None) -> bool:
        if not self.loopback or host is None or _over_unix_socket(request):
            return False
        return not is_loopback(host_name(host).lower())

    def _check_query(self, request: web.Request) -> web.Response | None:
        bound = self.limits.max_list_items
        for key in set(request.query):
            if len(request.query.getall(key)) > bound:
                error = BoundExceededError(
                    f"more than {bound} values of ?{key}", key="max_list_items"
                )
                return _refuse(400, str(error))
        limit = request.query.get("limit")
        if limit is not None and limit.isdigit() and int(limit) > bound:
            error = BoundExceededError(f"?limit={limit} is over {bound}", key="max_list_items")
            return _refuse(400, str(error))
        return None

    def _check_type(self, request: web.Request) -> web.Response | None:
        if request.content_type != "application/json":
            given = request.headers.get("Content-Type", "none")
            return _refuse(
                415, f"a request that changes something must be application/json, not {given}"
            )
        return None

    async def _check_body(self, request: web.Request) -> web.Response | None:
        length = request.content_length
        if length is not None and length > self.limits.max_body_bytes:
            return self._too_large()
        try:
            # Cached: the handler's own read() gets these bytes. The stream is at its end now,
            # so handlers ask `body_exists`, not `can_read_body`, whether one was sent.
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:  # chunked bodies have no Content-Length
            return self._too_large()
        try:
            check_depth(body, self.limits.max_json_depth)
        except BoundExceededError as exc:
            return _refuse(400, str(exc))
        return None

    def _too_large(self) -> web.Response:
        error = BoundExceededError(
            f"the request body is larger than {self.limits.max_body_bytes} bytes",
            key="max_body_bytes",
            status=413,
        )
        return _refuse(error.status, str(error))


def _over_unix_socket(request: web.Request) -> bool:
    # A TCP socket's name is an (address, port) tuple; a Unix socket's is its path.
    transport = request.transport
    name = transport.get_extra_info("sockname") if transport is not None else None
    return isinstance(name, str | bytes)
