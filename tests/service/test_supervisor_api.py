"""The control API's supervisor routes through a real HTTP client, over an orchestrator
driving the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from actors.streams.actor import GetState
from service.demo import demo_config
from tests.actors.streams.test_actor import kafka_spec
from tests.service.test_api import AUTH, Api, serving


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with serving(tmp_path / "api.db", demo_config()) as api:
        yield api


async def test_applying_twice_posts_once_and_the_list_shows_it_managed(api: Api) -> None:
    status, body = await api.call("POST", "/v1/supervisors", json=kafka_spec())
    assert status == 200, body
    assert body["supervisor"]["supervisor_id"] == "clicks"
    assert body["supervisor"]["in_sync"] is True
    status, again = await api.call("POST", "/v1/supervisors", json=kafka_spec())
    assert status == 200
    assert again["supervisor"]["spec_hash"] == body["supervisor"]["spec_hash"]
    assert api.sim.requests["supervisor_create"] == 1
    assert api.sim.stats()["supervisor_restarts"] == 0
    status, listed = await api.call("GET", "/v1/supervisors")
    assert status == 200
    assert [(s["supervisor_id"], s["managed"]) for s in listed["supervisors"]] == [("clicks", True)]
    status, one = await api.call("GET", "/v1/supervisors/clicks")
    assert status == 200
    assert [e["type"] for e in one["events"]] == [
        "supervisor_apply_intended",
        "supervisor_applied",
    ]


async def test_a_bad_spec_is_400_and_an_unknown_supervisor_404(api: Api) -> None:
    spec = kafka_spec()
    spec["spec"]["ioConfig"]["topik"] = "x"
    status, body = await api.call("POST", "/v1/supervisors", json=spec)
    assert status == 400
    assert "topik" in body["error"]
    status, body = await api.call("POST", "/v1/supervisors/nope/suspend")
    assert status == 404
    status, body = await api.call("GET", "/v1/supervisors/nope")
    assert status == 404


async def test_suspend_resume_terminate_record_who_asked(api: Api) -> None:
    await api.call("POST", "/v1/supervisors", json=kafka_spec())
    status, body = await api.call(
        "POST", "/v1/supervisors/clicks/suspend", json={"by": "ana", "reason": "maintenance"}
    )
    assert status == 200
    assert body["supervisor"]["desired"] == "suspended"
    assert api.sim.supervisors.supervisors["clicks"].suspended
    status, body = await api.call("POST", "/v1/supervisors/clicks/resume")
    assert body["supervisor"]["desired"] == "running"
    status, body = await api.call("POST", "/v1/supervisors/clicks/terminate")
    assert body["supervisor"]["desired"] == "terminated"
    assert "clicks" not in api.sim.supervisors.supervisors
    _, one = await api.call("GET", "/v1/supervisors/clicks")
    suspend = next(e for e in one["events"] if e["type"] == "supervisor_suspend_intended")
    assert (suspend["by"], suspend["reason"]) == ("ana", "maintenance")


async def test_a_reset_needs_by_and_reason_and_an_answer_needs_a_reset_to_answer(
    api: Api,
) -> None:
    await api.call("POST", "/v1/supervisors", json=kafka_spec())
    status, body = await api.call("POST", "/v1/supervisors/clicks/reset")
    assert status == 400
    status, body = await api.call("POST", "/v1/supervisors/clicks/reset", json={"by": "ana"})
    assert status == 400
    status, body = await api.call(
        "POST", "/v1/supervisors/clicks/reset", json={"by": "ana", "reason": " "}
    )
    assert status == 400
    assert api.sim.stats()["supervisor_resets"] == 0
    status, body = await api.call(
        "POST", "/v1/supervisors/clicks/reset", json={"by": "ana", "reason": "topic recreated"}
    )
    assert status == 200
    assert body["supervisor"]["last_reset_by"] == "ana"
    assert api.sim.stats()["supervisor_resets"] == 1
    status, body = await api.call(
        "POST", "/v1/supervisors/clicks/reset-answer", json={"happened": True, "by": "ana"}
    )
    assert status == 409


async def test_supervisor_routes_need_the_token_and_metrics_show_state_and_lag(api: Api) -> None:
    async with api.http.post(api.url + "/v1/supervisors", json=kafka_spec()) as response:
        assert response.status == 401
    await api.call("POST", "/v1/supervisors", json=kafka_spec())
    await api.orch.streaming.watcher.poll()
    await api.orch.streaming.manager.ask("clicks", GetState())  # it has taken the report
    async with api.http.get(api.url + "/metrics", headers=AUTH) as response:
        text = await response.text()
    assert 'druid_orch_supervisor_state{state="RUNNING",supervisor="clicks"} 1.0' in text
    assert 'druid_orch_supervisor_healthy{supervisor="clicks"} 1.0' in text
    assert 'druid_orch_supervisor_lag_records{supervisor="clicks"}' in text
    created = 'druid_orch_overlord_requests_total{endpoint="supervisor_create",outcome="ok"} 1.0'
    assert created in text
