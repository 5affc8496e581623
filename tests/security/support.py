"""Helpers for the security tests (no tests here): a daemon on a simulator, raw HTTP calls
with whatever headers an attacker would send, and what the event log holds."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from actors.job.audit import recorded_events
from actors.orchestrator import Orchestrator
from overlord.client import HttpOverlord
from service.api import ControlApi
from service.demo import demo_config
from service.limits import LimitsSection
from tests.service.processes import DaemonProcess, clean_env, fast_config, running, simulator

JSON = {"Content-Type": "application/json"}
TEMPLATE = {
    "name": "wiki",
    "datasource": "wikipedia",
    "input": {"type": "http", "uris": ["https://example.com/{date}.json"]},
    "format": {"type": "json"},
}


@dataclass
class Daemon:
    url: str
    db: Path
    process: DaemonProcess

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def events(self) -> int:
        """How many events the log holds (read beside the running daemon)."""
        return sum(1 for _ in recorded_events(self.db))


@contextlib.asynccontextmanager
async def daemon(tmp_path: Path, *, api_extra: str = "", **env: str) -> AsyncIterator[Daemon]:
    """`druid-orch run` as a subprocess on a simulator, stopped (and checked) on exit."""
    db = tmp_path / "orch.db"
    async with running(simulator()) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db, api_extra=api_extra))
        process = await DaemonProcess(config, env=clean_env(**env)).start()
        try:
            yield Daemon(process.url, db, process)
        finally:
            result = await process.stop()
    assert result.code == 0, result.err


async def call(
    url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: Any = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, Any]:
    """One request; returns the status and the decoded JSON body (None if not JSON)."""
    async with contextlib.AsyncExitStack() as stack:
        http = session or await stack.enter_async_context(aiohttp.ClientSession())
        async with http.request(method, url + path, headers=headers or {}, data=data) as r:
            body = await r.json() if r.content_type == "application/json" else None
            return r.status, body


@dataclass
class InProcess:
    """The control API over an orchestrator in this process, on a free loopback port."""

    url: str
    orch: Orchestrator
    db: Path

    def events(self) -> int:
        return sum(1 for _ in recorded_events(self.db))


@contextlib.asynccontextmanager
async def in_process(
    tmp_path: Path, limits: LimitsSection = LimitsSection(), *, orch: Any = None
) -> AsyncIterator[InProcess]:
    """`orch` replaces the orchestrator the API serves (a stub that fails on purpose)."""
    db = tmp_path / "api.db"
    async with (
        running(simulator()) as overlord,
        HttpOverlord(overlord) as client,
        Orchestrator.open(db, client, config=demo_config()) as real,
    ):
        control = ControlApi(limits=limits)
        control.serve(orch or real)
        runner, url = await control.start("127.0.0.1", 0)
        try:
            yield InProcess(url, real, db)
        finally:
            await runner.cleanup()
