"""The control API's JSON answers: a body, or `{"error": "..."}` with its status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web

from actors.orchestrator import Orchestrator

__all__ = ["Handler", "Running", "error_response", "json_response"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The API's `running(mutating=...)`: the open orchestrator, or a 503.
Running = Callable[..., Orchestrator]

_ENC = msgspec.json.Encoder()


def json_response(
    body: Any, status: int = 200, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_ENC.encode(body), status=status, content_type="application/json", headers=headers
    )


def error_response(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)
