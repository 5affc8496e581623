"""Serving the console: its static files, and the settings the page reads from the API.

The files hold no data, so they are served without the token (a browser cannot send an
`Authorization` header when a person types the URL); everything the page shows comes from
`/v1` routes behind the token. A strict Content-Security-Policy keeps the page to its own
origin: no inline script, no other host to load from or send to, no framing.
"""

from __future__ import annotations

from importlib import resources

import msgspec
from aiohttp import web

__all__ = ["ASSET_PREFIX", "Console"]

ASSET_PREFIX = "/ui"
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files, and a daemon upgrade must show its new page at once.
    "Cache-Control": "no-cache",
}
_ENC = msgspec.json.Encoder()


def _load() -> dict[str, tuple[bytes, str]]:
    """Every file of `static/` (read once: a handful of small files), by name."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("service.ui").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            files[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return files


class Console:
    """The console's routes; `console_url` is Druid's own web console (`overlord.console_url`),
    which the page links task ids to."""

    def __init__(self, console_url: str | None = None) -> None:
        self.console_url = console_url
        self._files = _load()

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get(ASSET_PREFIX, self.index)
        router.add_get(ASSET_PREFIX + "/", self.index)
        router.add_get(ASSET_PREFIX + "/{name}", self.asset)
        router.add_get("/v1/console", self.settings)

    @staticmethod
    def is_asset(method: str, path: str) -> bool:
        """Whether a request only fetches a file of the page (served without the token)."""
        return method in ("GET", "HEAD") and (
            path == ASSET_PREFIX or path.startswith(ASSET_PREFIX + "/")
        )

    async def index(self, _request: web.Request) -> web.Response:
        return self._file("index.html")

    async def asset(self, request: web.Request) -> web.Response:
        return self._file(request.match_info["name"])

    async def settings(self, _request: web.Request) -> web.Response:
        body = {"druid_console_url": self.console_url}
        return web.Response(body=_ENC.encode(body), content_type="application/json")

    def _file(self, name: str) -> web.Response:
        found = self._files.get(name)
        if found is None:
            raise web.HTTPNotFound(reason=f"the console has no file {name!r}")
        body, content_type = found
        charset = None if content_type.startswith("image/") else "utf-8"
        return web.Response(body=body, content_type=content_type, charset=charset, headers=_HEADERS)
