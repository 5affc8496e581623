"""Helpers for the contract suite: fixture files, JSON shape comparison, polling, and a
replay server that answers whatever a test tells it to (for bodies no Overlord should send)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "druid-api" / "responses"
T = TypeVar("T")

_MAP_NAMES = (".thrownAwayByReason",)  # reason -> count, only non-zero reasons listed
# Keys that are data, not schema: partitions, shard ids, task ids, intervals.
_DATA_KEY = re.compile(r"^(\d+|shardId-\d+|.+_\d{4}-\d\d-\d\dT.+|\d{4}-\d\d-\d\dT.+/.+)$")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return msgspec.json.decode(fixture_bytes(name))


def fixture_text(name: str) -> str:
    return fixture_bytes(name).decode()


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def shape_diff(
    actual: Any,
    expected: Any,
    path: str = "$",
    *,
    maps: frozenset[str] = frozenset(),
    optional: frozenset[str] = frozenset(),
    opaque: frozenset[str] = frozenset(),
) -> list[str]:
    """Differences in field names and JSON types between `actual` and the fixture `expected`.

    Null matches any type (Druid writes nulls for unknown values). Objects whose keys are data
    (listed in `maps`, named like `thrownAwayByReason`, or with keys that look like partitions,
    task ids or intervals) compare their values' shape only. `optional` names object keys (as
    `path.key`) that either side may omit; `opaque` paths hold free-form content (a context).
    """
    if actual is None or expected is None or path in opaque:
        return []
    if _kind(actual) != _kind(expected):
        return [f"{path}: expected {_kind(expected)}, got {_kind(actual)} ({actual!r:.60})"]
    if isinstance(expected, list):
        if not expected:
            return []
        return [
            d
            for item in actual
            for d in shape_diff(
                item, expected[0], f"{path}[]", maps=maps, optional=optional, opaque=opaque
            )
        ]
    if not isinstance(expected, dict):
        return []
    is_map = (
        path in maps
        or path.endswith(_MAP_NAMES)
        or (expected and all(_DATA_KEY.match(k) for k in expected))
    )
    if is_map:
        if not expected:
            return []
        sample = next(iter(expected.values()))
        return [
            d
            for key, value in actual.items()
            for d in shape_diff(
                value, sample, f"{path}.<{key}>", maps=maps, optional=optional, opaque=opaque
            )
        ]
    out = []
    for key in expected.keys() - actual.keys():
        if f"{path}.{key}" not in optional:
            out.append(f"{path}: missing key {key!r}")
    for key in actual.keys() - expected.keys():
        if f"{path}.{key}" not in optional:
            out.append(f"{path}: unexpected key {key!r}")
    for key in expected.keys() & actual.keys():
        out += shape_diff(
            actual[key],
            expected[key],
            f"{path}.{key}",
            maps=maps,
            optional=optional,
            opaque=opaque,
        )
    return out


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    *,
    timeout_s: float = 5.0,
    every_s: float = 0.02,
) -> T:
    """Poll `probe` until `accept` says yes; fail with the last value after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(every_s)


async def until(condition: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    """Poll a condition that timers elsewhere make true (the simulator's clockwork)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


class Canned(msgspec.Struct):
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = {}
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering


class ReplayServer:
    """An app that answers every request with `self.next(request)`; records what it saw."""

    def __init__(self) -> None:
        self.answers: list[Canned] = []
        self.default = Canned(status=404, body=b"no canned answer", content_type="text/plain")
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def push(self, *answers: Canned) -> None:
        self.answers.extend(answers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, str(request.rel_url), dict(request.headers), body))
        answer = self.answers.pop(0) if self.answers else self.default
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        response = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
        if answer.content_type is not None:
            response.content_type = answer.content_type
        return response
