"""The control API through a real HTTP client, over an orchestrator driving the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from msgspec.structs import replace

from actors.errors import ConfigError
from actors.orchestrator import Orchestrator
from actors.settings import OrchestratorConfig
from eventlog.retention.closed_streams import archive_closed_streams
from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE
from eventlog.sqlite.store import SQLiteEventLog
from overlord.client import HttpOverlord
from overlord.sim.server import Simulator
from service.api import ControlApi
from service.demo import demo_config
from service.http.job_json import view_of_json
from service.metrics import Metrics
from specs.compiler import builtin_template, compile_job
from specs.intervals import Interval
from tests.service.processes import eventually, running, simulator
from tests.support import FILL_LAST_PAGES, fill_until_refused

TOKEN = "api-token-7c1d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEMPLATE = {
    "name": "wiki",
    "datasource": "wikipedia",
    "input": {"type": "http", "uris": ["https://example.com/{date}.json"]},
    "format": {"type": "json"},
    "max_attempts": 3,
}
DAY1 = "2024-03-01T00:00:00.000Z/2024-03-02T00:00:00.000Z"


@dataclass
class Api:
    http: aiohttp.ClientSession
    url: str
    orch: Orchestrator
    api: ControlApi
    sim: Simulator

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        kwargs.setdefault("headers", AUTH)
        if method != "GET" and "json" not in kwargs:  # the API wants JSON even without a body
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs["headers"]}
        async with self.http.request(method, self.url + path, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else None
            return response.status, body

    async def until_terminal(self, job_ids: list[str], timeout: float = 20) -> list[dict[str, Any]]:
        query = [("id", j) for j in job_ids]
        async with asyncio.timeout(timeout):
            while True:
                _, body = await self.call("GET", "/v1/jobs", params=query)
                if body["jobs"] and all(j["terminal"] for j in body["jobs"]):
                    return list(body["jobs"])
                await asyncio.sleep(0.1)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with serving(tmp_path / "api.db", demo_config()) as api:
        yield api


@contextlib.asynccontextmanager
async def serving(db: Path, config: OrchestratorConfig) -> AsyncIterator[Api]:
    sim = simulator(scripted={f"wikipedia/{DAY1}": ["transient:s3_throttle", "success"]})
    metrics = Metrics()
    async with (
        running(sim) as overlord,
        HttpOverlord(overlord) as client,
        Orchestrator.open(db, metrics.instrument(client), config=config) as orch,
    ):
        control = ControlApi(token=TOKEN, metrics=metrics)
        control.serve(orch)
        metrics.bind(orch)
        follower = asyncio.get_running_loop().create_task(metrics.follow(orch))
        runner, url = await control.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as http:
                yield Api(http, url, orch, control, sim)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await runner.cleanup()


async def test_probes_answer_without_a_token_and_report_readiness(api: Api) -> None:
    assert await api.call("GET", "/healthz", headers={}) == (200, {"status": "ok"})
    status, body = await api.call("GET", "/readyz", headers={})
    assert (status, body) == (200, {"ready": True}), "one line, not the reconcile report"
    status, report = await api.call("GET", "/v1/reconcile/last")
    assert status == 200
    assert report["error"] is None
    assert (await api.call("GET", "/v1/reconcile/last", headers={}))[0] == 401


async def test_health_fails_once_the_event_log_stops_taking_writes(api: Api) -> None:
    log = api.orch.log
    for restarts in range(1, 5):  # the fourth loss in 60 s is one too many
        pid = log.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await eventually(
            lambda n=restarts: log.stats.writer_restarts == n or log.write_failure is not None
        )
    assert log.stats.writer_restarts == 3
    status, body = await api.call("GET", "/healthz", headers={})
    assert status == 503
    assert body["status"] == "failing"
    assert "was lost 4 times in 60 s" in body["reason"]


async def test_a_full_event_log_refuses_submissions_and_readiness_but_stays_live(
    tmp_path: Path,
) -> None:
    db = tmp_path / "api.db"
    async with SQLiteEventLog(db):
        pass
    quota = db.stat().st_size + 32 * DEFAULT_PAGE_SIZE
    async with serving(db, replace(demo_config(), eventlog_max_size_bytes=quota)) as api:
        await fill_until_refused(api.orch.log, FILL_LAST_PAGES)
        status, body = await api.call(
            "POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": [DAY1]}
        )
        assert status == 503
        assert body["error"].startswith("nothing was recorded: the event log")
        assert "is full" in body["error"]
        status, body = await api.call("GET", "/readyz", headers={})
        assert status == 503
        assert "the event log has refused writes since" in body["reason"]
        assert await api.call("GET", "/healthz", headers={}) == (200, {"status": "ok"})
        assert (await api.call("GET", "/v1/jobs"))[1] == {"jobs": [], "next": None}
        async with api.http.get(api.url + "/metrics", headers=AUTH) as response:
            text = await response.text()
        assert "druid_orch_eventlog_refusing_writes 1.0" in text

        await archive_closed_streams(
            api.orch.log, older_than=time.time() + 60, directory=tmp_path / "archive"
        )
        status, body = await api.call(
            "POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": [DAY1]}
        )
        assert status == 202
        assert (await api.call("GET", "/readyz", headers={}))[0] == 200


async def test_a_missing_or_wrong_token_is_refused_with_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, body = await api.call("GET", "/v1/jobs", headers=headers)
        assert status == 401
        assert "bearer token" in body["error"]
    status, _ = await api.call("GET", "/metrics", headers={})
    assert status == 401


async def test_submitting_a_template_and_range_runs_one_job_per_day_idempotently(api: Api) -> None:
    request = {"template": TEMPLATE, "intervals": ["2024-03-01/2024-03-03"]}
    status, body = await api.call("POST", "/v1/jobs", json=request)
    assert status == 202
    ids = [j["job_id"] for j in body["jobs"]]
    assert len(ids) == 2
    again_status, again = await api.call("POST", "/v1/jobs", json=request)
    assert again_status == 202
    assert [j["job_id"] for j in again["jobs"]] == ids
    final = await api.until_terminal(ids)
    assert {j["phase"] for j in final} == {"succeeded"}
    assert api.sim.stats()["duplicate_submissions"] == 0


async def test_submitting_a_task_spec_makes_a_job_with_a_deterministic_id(api: Api) -> None:
    compiled = compile_job(builtin_template(), Interval.parse("2024-04-01/2024-04-02"))
    spec = {**compiled.spec, "id": "ignored-by-the-orchestrator"}
    status, body = await api.call("POST", "/v1/jobs", json={"spec": spec})
    assert status == 202
    (job,) = body["jobs"]
    assert job["datasource"] == "wikipedia"
    assert job["interval"] == "2024-04-01T00:00:00.000Z/2024-04-02T00:00:00.000Z"
    _, again = await api.call("POST", "/v1/jobs", json={"spec": compiled.spec})
    assert again["jobs"][0]["job_id"] == job["job_id"]


async def test_a_bad_spec_is_refused_with_400_naming_the_json_path(api: Api) -> None:
    spec = {"type": "index_parallel", "spec": {"dataSchema": {"dataSource": "x"}}}
    status, body = await api.call("POST", "/v1/jobs", json={"spec": spec})
    assert status == 400
    assert "$.spec" in body["error"]
    status, body = await api.call("POST", "/v1/jobs", data=b"{not json")
    assert status == 400
    assert "bad request body" in body["error"]
    status, body = await api.call("POST", "/v1/jobs", json={"template": TEMPLATE})
    assert status == 400
    assert "interval" in body["error"]


async def test_listing_filters_by_phase_datasource_and_terminal(api: Api) -> None:
    _, body = await api.call(
        "POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": ["2024-03-01/2024-03-04"]}
    )
    ids = [j["job_id"] for j in body["jobs"]]
    await api.until_terminal(ids)
    _, listed = await api.call("GET", "/v1/jobs", params={"datasource": "wikipedia"})
    assert sorted(j["job_id"] for j in listed["jobs"]) == sorted(ids)
    _, none = await api.call("GET", "/v1/jobs", params={"datasource": "other"})
    assert none["jobs"] == []
    _, done = await api.call("GET", "/v1/jobs", params={"phase": "succeeded,dead"})
    assert len(done["jobs"]) == 3
    _, live = await api.call("GET", "/v1/jobs", params={"terminal": "false"})
    assert live["jobs"] == []
    status, misspelt = await api.call("GET", "/v1/jobs", params={"phase": "succeded"})
    assert status == 400, "a misspelt phase must not look like 'no such jobs'"
    assert "unknown phase 'succeded'" in misspelt["error"]


async def test_one_job_comes_with_its_event_history_including_the_retry(api: Api) -> None:
    _, body = await api.call("POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": [DAY1]})
    job_id = body["jobs"][0]["job_id"]
    await api.until_terminal([job_id])
    status, detail = await api.call("GET", f"/v1/jobs/{job_id}")
    assert status == 200
    assert detail["job"]["phase"] == "succeeded"
    assert detail["job"]["attempt"] == 2
    types = [e["type"] for e in detail["events"]]
    assert types[0] == "job_accepted"
    assert "failure_classified" in types
    assert "retry_scheduled" in types
    assert [e["version"] for e in detail["events"]] == list(range(1, len(types) + 1))


async def test_a_jobs_times_are_iso_8601_with_the_epoch_beside_and_survive_the_round_trip(
    api: Api,
) -> None:
    request = {"template": TEMPLATE, "intervals": ["2024-03-05/2024-03-06"]}
    _, body = await api.call("POST", "/v1/jobs", json=request)
    job_id = body["jobs"][0]["job_id"]
    (listed,) = await api.until_terminal([job_id])
    _, detail = await api.call("GET", f"/v1/jobs/{job_id}")
    for job in (listed, detail["job"]):
        for name in ("accepted_at", "finished_at"):
            epoch = job[f"{name}_epoch"]
            assert isinstance(epoch, float)
            assert job[name] == datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    view = view_of_json(detail["job"])  # what RemoteControl reads
    assert view == await api.orch.get(job_id)


async def test_a_job_history_leaves_out_the_input_password_the_task_still_gets(
    api: Api,
) -> None:
    secret = {"type": "default", "password": "input-pw-31"}
    source = {**TEMPLATE["input"], "httpAuthenticationUsername": "loader"}  # type: ignore[dict-item]
    template = {**TEMPLATE, "input": {**source, "httpAuthenticationPassword": secret}}
    _, body = await api.call("POST", "/v1/jobs", json={"template": template, "intervals": [DAY1]})
    job_id = body["jobs"][0]["job_id"]
    await api.until_terminal([job_id])
    status, detail = await api.call("GET", f"/v1/jobs/{job_id}")
    assert status == 200
    accepted = detail["events"][0]
    source = accepted["spec"]["spec"]["ioConfig"]["inputSource"]
    # As Druid serves a stored task: the provider's type, not its password.
    assert source["httpAuthenticationPassword"] == {"type": "default"}
    assert source["httpAuthenticationUsername"] == "loader"
    assert "input-pw-31" not in repr(detail)
    # What was submitted to Druid still carries it: only the view is redacted.
    task = api.sim.cluster.tasks[detail["job"]["task_id"]]
    sent = task.payload["spec"]["ioConfig"]["inputSource"]["httpAuthenticationPassword"]
    assert sent == secret


async def test_an_unknown_job_is_404_on_get_and_cancel(api: Api) -> None:
    for method, path in (("GET", "/v1/jobs/nope"), ("POST", "/v1/jobs/nope/cancel")):
        status, body = await api.call(method, path)
        assert status == 404
        assert "nope" in body["error"]


async def test_cancelling_a_running_job_ends_it_cancelled(api: Api) -> None:
    api.sim.cluster.config.min_duration_s = api.sim.cluster.config.max_duration_s = 30.0
    _, body = await api.call(
        "POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": ["2024-05-01/2024-05-02"]}
    )
    job_id = body["jobs"][0]["job_id"]
    await eventually(lambda: api.orch.states[job_id].phase == "running")
    status, cancelled = await api.call("POST", f"/v1/jobs/{job_id}/cancel")
    assert status == 200
    assert cancelled["job"]["job_id"] == job_id  # cancelling goes on in the job's actor
    (final,) = await api.until_terminal([job_id])
    assert final["phase"] == "cancelled"


async def test_a_paused_datasource_is_resumed_once(api: Api) -> None:
    for _ in range(api.orch.config.datasource_breaker.structural_limit):
        api.orch.breakers.record_structural("wikipedia", "parse errors")
    _, state = await api.call("GET", "/v1/datasources")
    assert "wikipedia" in state["paused"]
    status, body = await api.call("POST", "/v1/datasources/wikipedia/resume")
    assert (status, body) == (200, {"datasource": "wikipedia", "resumed": True})
    _, again = await api.call("POST", "/v1/datasources/wikipedia/resume")
    assert again["resumed"] is False
    await api.orch.breakers.flush()


async def test_reconcile_now_returns_the_report(api: Api) -> None:
    status, report = await api.call("POST", "/v1/reconcile")
    assert status == 200
    assert report["error"] is None
    assert report["jobs_checked"] == 0


async def test_metrics_show_jobs_retries_overlord_calls_and_the_log(api: Api) -> None:
    _, body = await api.call("POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": [DAY1]})
    await api.until_terminal([body["jobs"][0]["job_id"]])
    async with asyncio.timeout(5):
        while True:
            async with api.http.get(api.url + "/metrics", headers=AUTH) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
            if 'druid_orch_retries_total{classification="transient"' in text:
                break
            await asyncio.sleep(0.05)
    assert 'druid_orch_jobs{phase="succeeded"} 1.0' in text
    assert (
        'druid_orch_retries_total{classification="transient",rule="object-store-throttling"}'
        in (text)
    )
    assert 'druid_orch_submissions_total{kind="job"} 1.0' in text
    assert 'druid_orch_overlord_requests_total{endpoint="submit",outcome="ok"} 2.0' in text
    assert 'druid_orch_overlord_breaker_state{state="closed"} 1.0' in text
    assert "druid_orch_eventlog_append_duration_seconds_count" in text
    assert "druid_orch_eventlog_batch_events_count" in text
    assert "druid_orch_eventlog_writer_restarts_total 0.0" in text
    assert "druid_orch_poll_round_duration_seconds_count" in text


async def test_a_draining_api_refuses_new_work_and_is_not_ready(api: Api) -> None:
    api.api.drain()
    status, body = await api.call(
        "POST", "/v1/jobs", json={"template": TEMPLATE, "intervals": [DAY1]}
    )
    assert status == 503
    assert "shutting down" in body["error"]
    status, _ = await api.call("GET", "/readyz", headers={})
    assert status == 503
    status, _ = await api.call("GET", "/v1/jobs")
    assert status == 200


async def test_before_boot_the_api_is_alive_but_not_ready() -> None:
    control = ControlApi()
    runner, url = await control.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/healthz") as r:
                assert r.status == 200
            async with http.get(url + "/readyz") as r:
                assert r.status == 503
                assert (await r.json())["reason"] == "boot reconciliation in progress"
            async with http.get(url + "/v1/jobs") as r:
                assert r.status == 503
                assert "booting" in (await r.json())["error"]
    finally:
        await runner.cleanup()


async def test_the_api_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    with pytest.raises(ConfigError, match="without a bearer token"):
        await ControlApi().start("0.0.0.0", 0)
