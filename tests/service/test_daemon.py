"""`druid-orch run` as a user runs it: a subprocess with a config file, talked to over HTTP,
stopped with signals. The simulator runs in the test process on a free port."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from actors.job.audit import job_states, verify
from overlord.sim.server import Faults
from tests.service.processes import (
    PASSWORD,
    DaemonProcess,
    clean_env,
    cli,
    eventually,
    fast_config,
    running,
    simulator,
)

TEMPLATE = {
    "name": "wiki",
    "datasource": "wikipedia",
    "input": {"type": "http", "uris": ["https://example.com/{date}.json"]},
    "format": {"type": "json"},
}


async def submit(url: str, intervals: list[str], token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + "/v1/jobs",
            json={"template": TEMPLATE, "intervals": intervals},
            headers=headers,
        ) as response,
    ):
        assert response.status == 202, await response.text()
        return [j["job_id"] for j in (await response.json())["jobs"]]


async def get(url: str, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url + path, headers=headers) as response:
        return response.status, await response.json()


async def until_terminal(
    url: str, ids: list[str], token: str | None = None, timeout: float = 20
) -> list[dict[str, Any]]:
    query = "&".join(f"id={i}" for i in ids)
    async with asyncio.timeout(timeout):
        while True:
            _, body = await get(url, f"/v1/jobs?{query}", token)
            if len(body["jobs"]) == len(ids) and all(j["terminal"] for j in body["jobs"]):
                return list(body["jobs"])
            await asyncio.sleep(0.1)


async def test_the_daemon_serves_jobs_then_drains_on_sigterm_and_exits_zero(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    async with running(simulator()) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db))
        daemon = await DaemonProcess(config).start()
        assert daemon.url.startswith("http://127.0.0.1:")
        status, ready = await get(daemon.url, "/readyz")
        assert (status, ready["ready"]) == (200, True)
        ids = await submit(daemon.url, ["2024-01-01/2024-01-03"])
        jobs = await until_terminal(daemon.url, ids)
        assert {j["phase"] for j in jobs} == {"succeeded"}
        daemon.signal(signal.SIGTERM)
        result = await daemon.finish()
    assert result.code == 0, result.err
    assert "SIGTERM: shutting down" in result.out
    assert result.out.rstrip().endswith("druid-orch: stopped")
    logs = [line for line in result.err.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in logs), "logs are JSON lines when not a TTY"
    assert any('"event":"daemon_stopped"' in line for line in logs)
    assert verify(db).ok
    assert {s.phase for s in job_states(db).values()} == {"succeeded"}


@pytest.mark.parametrize("gone", [(1,), (2,), (1, 2)], ids=["stdout", "stderr", "both"])
async def test_one_sigterm_stops_a_daemon_whose_output_has_no_reader_left(
    tmp_path: Path, gone: tuple[int, ...]
) -> None:
    db = tmp_path / "orch.db"
    async with running(simulator()) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db))
        daemon = await DaemonProcess(config).start()
        assert daemon.proc is not None
        # The reader of its stdout or of its logs goes away (a closed terminal, `| head`
        # that ended, a log shipper restarted): with stderr gone, the handler's first log
        # line raised, and no SIGTERM stopped the daemon.
        transport = daemon.proc._transport  # type: ignore[attr-defined]
        for fd in gone:
            transport.get_pipe_transport(fd).close()
        await asyncio.sleep(0.2)
        daemon.signal(signal.SIGTERM)
        code = await asyncio.wait_for(daemon.proc.wait(), timeout=20)
    assert code == 0
    assert verify(db).ok


async def test_jobs_in_flight_at_shutdown_are_resumed_by_the_next_start(tmp_path: Path) -> None:
    db = tmp_path / "orch.db"
    sim = simulator(min_s=1.0, max_s=1.5)
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db))
        # Both jobs in flight at the shutdown: their slot claims (5 each) exceed the 8 slots,
        # so the slot gate, which would hold the second back, is off.
        env = clean_env(DRUID_ORCH_ORCHESTRATOR_SLOTS_ENABLED="false")
        first = await DaemonProcess(config, env=env).start()
        ids = await submit(first.url, ["2024-02-01/2024-02-03"])
        await eventually(lambda: sim.stats()["submissions"] >= len(ids))
        stopped = await first.stop()
        assert stopped.code == 0, stopped.err
        assert not any(s.terminal for s in job_states(db).values())

        second = await DaemonProcess(config, env=env).start()
        jobs = await until_terminal(second.url, ids)
        stopped = await second.stop()
    assert stopped.code == 0, stopped.err
    assert {j["phase"] for j in jobs} == {"succeeded"}
    assert {j["attempt"] for j in jobs} == {1}, "the second start adopted the running tasks"
    assert sim.stats()["duplicate_submissions"] == 0
    assert sim.stats()["max_live_tasks_per_interval"] == 1


async def test_a_submission_is_answered_at_once_while_the_overlord_is_slow(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    sim = simulator()
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db))
        daemon = await DaemonProcess(config).start()
        # Every Overlord call now takes 2 s: a job's first turn (worker capacity, the
        # supervisors' watermark, the POST) takes several, none of which the caller awaits.
        sim.set_faults(Faults(latency_ms=2000))
        began = time.monotonic()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                daemon.url + "/v1/jobs",
                json={"template": TEMPLATE, "intervals": ["2024-04-01/2024-04-03"]},
            ) as response,
        ):
            took = time.monotonic() - began
            body = await response.json()
        assert response.status == 202, body
        assert took < 1.5, f"the submission waited {took:.1f} s on the Overlord"
        assert {j["phase"] for j in body["jobs"]} == {"accepted"}
        sim.set_faults(Faults())
        jobs = await until_terminal(daemon.url, [j["job_id"] for j in body["jobs"]], timeout=30)
        result = await daemon.stop()
    assert result.code == 0, result.err
    assert {j["phase"] for j in jobs} == {"succeeded"}


async def test_a_second_signal_during_shutdown_exits_at_once_and_the_log_stays_sound(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    sim = simulator()
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, db))
        daemon = await DaemonProcess(config).start()
        # POST /task now takes 5 s, so the graceful shutdown waits on the job's in-flight
        # submission: a second signal has to cut it short.
        sim.set_faults(Faults(slow_endpoints={"submit": 5000}))
        await submit(daemon.url, ["2024-03-01/2024-03-02"])
        await eventually(lambda: sim.requests["submit"] > 0)
        daemon.signal(signal.SIGTERM)
        await daemon.read_until("shutting down")
        daemon.signal(signal.SIGINT)
        began = time.monotonic()
        result = await daemon.finish(timeout=10)
        took = time.monotonic() - began
        sim.set_faults(Faults())
    assert result.code == 128 + signal.SIGINT, result.err
    assert took < 3.0
    assert "druid-orch: stopped" not in result.out
    assert '"event":"shutdown_forced"' in result.err
    assert verify(db).ok, "an abrupt exit never leaves a half-written log"


async def test_a_bad_config_file_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "orch.toml"
    config.write_text('[api]\nport = "eighty"\n[eventlog]\ndb = "x.db"\n')
    result = await cli("run", "--config", str(config))
    assert result.code == 2
    assert "key `api.port`" in result.err
    assert "'eighty'" in result.err
    config.write_text("[overlord]\nurll = 1\n")
    result = await cli("run", "--config", str(config))
    assert result.code == 2
    assert "unknown key `overlord.urll`; did you mean `overlord.url`?" in result.err


async def test_a_port_already_in_use_exits_2_naming_the_address(tmp_path: Path) -> None:
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config("http://127.0.0.1:9", tmp_path / "x.db", port=port))
        result = await cli("run", "--config", str(config))
    finally:
        taken.close()
        await taken.wait_closed()
    assert result.code == 2
    assert f"cannot serve the control API on 127.0.0.1:{port}" in result.err


async def test_a_second_daemon_on_a_held_log_is_refused_before_it_announces_an_api(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    config = tmp_path / "orch.toml"
    config.write_text(fast_config("http://127.0.0.1:9", db))
    code = "import sys, time; from actors.ownership import owning\nwith owning(sys.argv[1]):\n"
    code += "    print('held', flush=True); time.sleep(60)\n"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(db), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), timeout=20) == b"held\n"
        result = await cli("run", "--config", str(config))
    finally:
        holder.kill()
        await holder.wait()
    assert result.code == 1, result.out + result.err
    assert "in use by another orchestrator" in result.err
    assert "control API listening" not in result.out + result.err
    assert "Traceback" not in result.err


async def test_a_bad_environment_override_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = await cli("run", "--check", env=clean_env(DRUID_ORCH_API_PORT="x"))
    assert result.code == 2
    assert "DRUID_ORCH_API_PORT" in result.err


async def test_check_refuses_a_tuning_value_out_of_range_from_the_file_or_environment(
    tmp_path: Path,
) -> None:
    config = tmp_path / "orch.toml"
    config.write_text("[orchestrator.poller]\nchunk = 0\n")
    result = await cli("run", "--config", str(config), "--check")
    assert result.code == 2
    assert f"{config}: key `orchestrator.poller.chunk`: Expected `int` >= 1 (value 0)" in result.err
    assert "Traceback" not in result.err
    variable = "DRUID_ORCH_ORCHESTRATOR_BREAKER_BUCKETS"
    result = await cli("run", "--check", env=clean_env(**{variable: "0"}))
    assert result.code == 2
    assert f"{variable}='0': Expected `int` >= 1" in result.err


async def test_listening_beyond_loopback_without_a_token_is_refused_at_start(
    tmp_path: Path,
) -> None:
    config = tmp_path / "orch.toml"
    config.write_text(f'[api]\nhost = "0.0.0.0"\n[eventlog]\ndb = "{tmp_path}/x.db"\n')
    result = await cli("run", "--config", str(config))
    assert result.code == 2
    assert "not a loopback address" in result.err
    assert not (tmp_path / "x.db").exists()


async def test_the_overlord_password_never_appears_in_logs_errors_help_or_dumps(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    secret_file = tmp_path / "druid_password"
    secret_file.write_text(PASSWORD + "\n")
    token = "api-token-daemon-31f"
    token_file = tmp_path / "api_token"
    token_file.write_text(token)
    sim = simulator(users={"druid": PASSWORD})
    outputs: list[str] = []
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(
            fast_config(
                overlord,
                db,
                overlord_extra=f'user = "druid"\npassword_file = "{secret_file}"',
                api_extra=f'token_file = "{token_file}"',
            )
        )
        daemon = await DaemonProcess(config).start()
        status, _ = await get(daemon.url, "/v1/jobs")
        assert status == 401
        ids = await submit(daemon.url, ["2024-04-01/2024-04-02"], token=token)
        jobs = await until_terminal(daemon.url, ids, token)
        assert jobs[0]["phase"] == "succeeded", "basic auth reached the Overlord"
        result = await daemon.stop()
        assert result.code == 0
        outputs += [result.out, result.err]
    checked = await cli("run", "--config", str(config), "--check")
    assert checked.code == 0
    assert '"password":"***"' in checked.out
    outputs += [checked.out, checked.err]
    for args in (("--help",), ("run", "--help"), ("submit", "--help"), ("audit", "--help")):
        shown = await cli(*args)
        outputs += [shown.out, shown.err]
    twice = tmp_path / "twice.toml"
    twice.write_text(
        f'[overlord]\nuser = "druid"\npassword = "{PASSWORD}"\npassword_file = "{secret_file}"\n'
    )
    refused = await cli("run", "--config", str(twice), env=clean_env())
    assert refused.code == 2
    outputs += [refused.out, refused.err]
    assert all(PASSWORD not in text for text in outputs)
    assert all(token not in text for text in outputs)


async def test_a_password_in_the_overlord_url_stays_out_of_logs_check_and_errors(
    tmp_path: Path,
) -> None:
    db = tmp_path / "orch.db"
    sim = simulator(users={"druid": PASSWORD})
    outputs: list[str] = []
    async with running(sim) as overlord:
        with_creds = overlord.replace("http://", f"http://druid:{PASSWORD}@")
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(with_creds, db))
        daemon = await DaemonProcess(config).start()
        ids = await submit(daemon.url, ["2024-05-01/2024-05-02"])
        jobs = await until_terminal(daemon.url, ids)
        assert jobs[0]["phase"] == "succeeded", "the URL's user info became basic auth"
        result = await daemon.stop()
    assert result.code == 0, result.err
    ready = next(line for line in result.err.splitlines() if '"event":"daemon_ready"' in line)
    assert '"overlord":"http://***@127.0.0.1:' in ready
    outputs += [result.out, result.err]
    checked = await cli("run", "--config", str(config), "--check")
    assert checked.code == 0
    assert '"url":"http://***@127.0.0.1:' in checked.out
    outputs += [checked.out, checked.err]
    malformed = f"http://druid:pa#{PASSWORD}@127.0.0.1:9"
    refused = await cli("run", "--check", env=clean_env(DRUID_ORCH_OVERLORD_URL=malformed))
    assert refused.code == 2
    assert "key `overlord.url`" in refused.err
    outputs += [refused.out, refused.err]
    assert all(PASSWORD not in text for text in outputs)
