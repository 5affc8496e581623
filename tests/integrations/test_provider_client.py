"""The Airflow provider's Airflow-free half, in the project's own venv: the verdict over a
task's jobs, and the blocking client against a real daemon (what the operator's worker does)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from airflow_druid_orch.client import DaemonClient, DaemonError, submit_body
from airflow_druid_orch.outcome import decide
from tests.service.processes import DaemonProcess, clean_env, fast_config, running, simulator

TOKEN = "client-token-9d2"
TEMPLATE = {
    "name": "wiki",
    "datasource": "wikipedia",
    "input": {"type": "http", "uris": ["https://example.com/{date}.json"]},
    "format": {"type": "json"},
}


def view(phase: str, **more: Any) -> dict[str, Any]:
    return {"job_id": f"j-{phase}", "interval": "2024-01-01/2024-01-02", "phase": phase, **more}


def test_the_verdict_waits_for_every_job_then_lets_a_death_outweigh_the_rest() -> None:
    assert decide([view("succeeded"), view("running")]).verdict == "waiting"
    assert decide([view("succeeded"), view("cancelled")]).verdict == "cancelled"
    assert decide([view("succeeded")]).verdict == "succeeded"
    dead = view("dead", classification="structural", rule="parse_errors", reason="bad rows")
    failed = decide([view("cancelled"), dead])
    assert failed.verdict == "failed"
    assert failed.structural
    assert "structural failure (rule 'parse_errors')" in failed.message()
    transient = view("dead", classification="transient", rule="s3_throttle", reason="503")
    assert not decide([dead, transient]).structural


def test_a_body_holds_exactly_one_of_a_spec_and_a_template() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        submit_body()
    with pytest.raises(ValueError, match="exactly one"):
        submit_body(spec={}, template={})
    body = submit_body(template=TEMPLATE, intervals=["2024-01-01/2024-01-02"], max_attempts=2)
    assert body == {
        "template": TEMPLATE,
        "intervals": ["2024-01-01/2024-01-02"],
        "max_attempts": 2,
    }


async def test_the_blocking_client_submits_idempotently_and_says_which_errors_pass(
    tmp_path: Path,
) -> None:
    async with running(simulator()) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, tmp_path / "orch.db"))
        daemon = await DaemonProcess(config, env=clean_env(DRUID_ORCH_API_TOKEN=TOKEN)).start()
        try:
            client = DaemonClient(daemon.url, TOKEN, timeout_s=10)
            body = submit_body(template=TEMPLATE, intervals=["2024-01-01/2024-01-03"])
            first = await asyncio.to_thread(client.submit, body)
            again = await asyncio.to_thread(client.submit, body)
            assert [j["job_id"] for j in first] == [j["job_id"] for j in again]
            assert len(first) == 2
            found = await asyncio.to_thread(client.jobs, [j["job_id"] for j in first])
            assert {j["job_id"] for j in found} == {j["job_id"] for j in first}
            cancelled = await asyncio.to_thread(client.cancel, first[0]["job_id"])
            assert cancelled["phase"] in ("cancelling", "cancelled")
            bad = submit_body(template={"name": "x"}, intervals=["2024-01-01/2024-01-02"])
            with pytest.raises(DaemonError) as refused:
                await asyncio.to_thread(client.submit, bad)
            assert (refused.value.status, refused.value.transient) == (400, False)
            with pytest.raises(DaemonError) as unauthorized:
                await asyncio.to_thread(DaemonClient(daemon.url, "wrong").jobs, ["x"])
            assert (unauthorized.value.status, unauthorized.value.transient) == (401, False)
        finally:
            await daemon.stop()
    with pytest.raises(DaemonError) as gone:
        await asyncio.to_thread(DaemonClient(daemon.url, TOKEN, timeout_s=2).jobs, ["x"])
    assert (gone.value.status, gone.value.transient) == (0, True)
