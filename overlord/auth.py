"""Ways to authenticate to Druid. Secrets never appear in `repr`, logs or error messages."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Protocol


class Auth(Protocol):
    """Adds or signs headers of one request. May be a plain coroutine function too."""

    def __call__(self, method: str, url: str, headers: dict[str, str]) -> Awaitable[None]: ...


AuthHook = Callable[[str, str, dict[str, str]], Awaitable[None]]


class BasicAuth:
    """druid-basic-security: `Authorization: Basic base64(user:password)`."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    async def __call__(self, method: str, url: str, headers: dict[str, str]) -> None:
        headers["Authorization"] = self._header

    def __repr__(self) -> str:
        return f"BasicAuth(user={self.user!r}, password=***)"


class BearerAuth:
    """`Authorization: Bearer <token>`, for Druid behind an authenticating proxy."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    async def __call__(self, method: str, url: str, headers: dict[str, str]) -> None:
        headers["Authorization"] = self._header

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"
