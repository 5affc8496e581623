"""An orchestrator pointed at a web server that is not an Overlord (a wrong port or path):
its jobs wait for a right URL instead of ending `dead` as if Druid had refused their specs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from actors.orchestrator import Orchestrator
from actors.stream_names import job_stream
from actors.supervision.watermark_gate import WatermarkPolicy
from eventlog.events import JobDied, SubmitIntended
from tests.support import daily_jobs, fast_config, month_start

# Without the watermark gate, which would hold the jobs before their submission (it cannot
# list the supervisors either: tests/actors/job/test_watermark_jobs.py); these tests are about
# what a refused submission does.
NO_GATE = fast_config(watermark=WatermarkPolicy(enabled=False))


async def test_jobs_wait_out_a_url_that_answers_404_to_everything(tmp_path: Path) -> None:
    server = TestServer(web.Application())  # no routes: 404 to every request
    await server.start_server()
    job = daily_jobs(1, month_start(2024, 6))[0]
    try:
        url = str(server.make_url("")).rstrip("/")
        async with Orchestrator.open(tmp_path / "log.db", url, config=NO_GATE) as orch:
            await orch.submit(job)
            for _ in range(200):  # until it has tried to submit
                events = [r.event for r in await orch.history(job.job_id)]
                if any(isinstance(e, SubmitIntended) for e in events):
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # time enough to be refused and, before the fix, to die
            view = await orch.get(job.job_id)
            events = [r.event for r in await orch.log.read_stream(job_stream(job.job_id))]
    finally:
        await server.close()
    assert view is not None
    assert not view.terminal, view.phase
    assert not any(isinstance(e, JobDied) for e in events)
    assert any(isinstance(e, SubmitIntended) for e in events), "it never tried"


async def test_a_job_waiting_on_a_wrong_url_says_why_in_its_view(tmp_path: Path) -> None:
    server = TestServer(web.Application())  # no routes: 404 to every request
    await server.start_server()
    job = daily_jobs(1, month_start(2024, 7))[0]
    try:
        url = str(server.make_url("")).rstrip("/")
        async with Orchestrator.open(tmp_path / "log.db", url, config=NO_GATE) as orch:
            await orch.submit(job)
            for _ in range(200):  # until a submission has been refused
                view = await orch.get(job.job_id)
                if view is not None and view.held is not None:
                    break
                await asyncio.sleep(0.02)
    finally:
        await server.close()
    # `status` shows `held` under its table: without it the job just sits in `submitting`.
    assert view is not None
    assert view.phase == "submitting"
    assert view.held is not None
    assert "its submission has not gone through" in view.held
    assert "HTTP 404" in view.held
