"""The test API's orchestrator and simulator (as `tests.service.test_api.serving`), with the
simulated Overlord refusing the first task submission the way Druid refuses a spec it cannot
read: a 400 DruidException whose message quotes the input source back, secrets and all."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from actors.orchestrator import Orchestrator
from actors.settings import OrchestratorConfig
from overlord.client import HttpOverlord
from service.api import ControlApi
from tests.service.processes import simulator
from tests.service.test_api import DAY1, TOKEN, Api

SUBMIT = "/druid/indexer/v1/task"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal(spec: dict[str, object]) -> web.Response:
    quoted = json.dumps(spec.get("spec", spec))
    body = {
        "error": "druidException",
        "errorCode": "invalidInput",
        "persona": "USER",
        "category": "INVALID_INPUT",
        "errorMessage": f"Cannot construct instance of `IndexTask`, problem: bad spec {quoted}",
        "context": {},
    }
    return web.json_response(body, status=400)


@contextlib.asynccontextmanager
async def serving_refusing_once(db: Path, config: OrchestratorConfig) -> AsyncIterator[Api]:
    sim = simulator(scripted={f"wikipedia/{DAY1}": ["transient:s3_throttle", "success"]})
    refused: list[str] = []

    @web.middleware
    async def refuse_first_submit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path == SUBMIT and not refused:
            refused.append(request.path)
            return _refusal(await request.json())
        return await handler(request)

    app = sim.app()
    app.middlewares.insert(0, refuse_first_submit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with (
            HttpOverlord(f"http://{host}:{port}") as client,
            Orchestrator.open(db, client, config=config) as orch,
        ):
            control = ControlApi(token=TOKEN)
            control.serve(orch)
            api_runner, url = await control.start("127.0.0.1", 0)
            try:
                async with aiohttp.ClientSession() as http:
                    yield Api(http, url, orch, control, sim)
            finally:
                await api_runner.cleanup()
    finally:
        await asyncio.shield(runner.cleanup())
