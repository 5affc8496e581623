"""The Airflow provider under real Airflow (2.10, `dag.test()` with its trigger run in line),
against a real daemon process and the simulator: what a DAG author sees.

Airflow lives in a venv of its own (`airflow_env.py`, built once and cached); each DAG runs
there as a subprocess that imports the provider from this checkout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from overlord.sim.server import Simulator
from specs.compiler import builtin_template, compile_job
from specs.intervals import Interval
from tests.integrations.airflow_env import ROOT, airflow_env, ensure_venv, new_home
from tests.service.processes import DaemonProcess, clean_env, fast_config, running, simulator

TOKEN = "af-token-3b9e"
RUNNER = Path(__file__).with_name("airflow_runner.py")
TRIGGER_RUNNER = Path(__file__).with_name("trigger_runner.py")
EXAMPLE = ROOT / "examples" / "airflow"
DAY = "2024-03-01T00:00:00.000Z/2024-03-02T00:00:00.000Z"
KEY = f"wikipedia/{DAY}"
# A manual run's data interval ends at its logical date (Airflow 2's manual timetable).
JANUARY = "2024-02-01T00:00:00+00:00"

DAG = """
from datetime import UTC, datetime, timedelta
from airflow import DAG
from airflow_druid_orch.operators import DruidOrchOperator
with DAG(dag_id="{dag_id}", schedule="@daily", start_date=datetime(2024, 3, 1, tzinfo=UTC),
         catchup=False, default_args={{"retries": {retries}, "retry_delay": timedelta(0)}}):
    DruidOrchOperator(task_id="ingest", {source}, max_attempts={max_attempts}, wait_s=5)
"""


@pytest.fixture(scope="session")
def airflow_venv() -> Path:
    # Never skipped: with no Airflow venv cached, this builds one (minutes, once).
    return ensure_venv()


@dataclass
class Stack:
    sim: Simulator
    daemon: DaemonProcess
    venv: Path
    home: Path
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)

    def write_dag(self, dag_id: str, source: str, *, retries: int = 0, attempts: int = 3) -> Path:
        path = self.home / "dags" / f"{dag_id}.py"
        text = DAG.format(dag_id=dag_id, source=source, retries=retries, max_attempts=attempts)
        path.write_text(text)
        return path

    async def start_dag(self, dag_file: Path, dag_id: str, date: str) -> asyncio.subprocess.Process:
        return await self.start(RUNNER, str(dag_file), dag_id, date)

    async def start(self, script: Path, *args: str) -> asyncio.subprocess.Process:
        """`script ARGS` in the Airflow venv, with the connection to the daemon."""
        port = self.daemon.url.rsplit(":", 1)[-1]
        env = airflow_env(
            self.home, AIRFLOW_CONN_DRUID_ORCH_DEFAULT=f"druid-orch://:{TOKEN}@127.0.0.1:{port}"
        )
        proc = await asyncio.create_subprocess_exec(
            str(self.venv / "bin" / "python"),
            str(script),
            *args,
            env=env,
            cwd=self.home,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    async def run_dag(
        self, dag_file: Path, dag_id: str, date: str = "2024-03-02T00:00:00+00:00"
    ) -> tuple[dict[str, Any], str]:
        """Run the DAG to its end: its `RESULT` and everything it printed."""
        proc = await self.start_dag(dag_file, dag_id, date)
        out, _ = await asyncio.wait_for(proc.communicate(), 150)
        text = out.decode(errors="replace")
        lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
        assert proc.returncode == 0, text[-4000:]
        assert lines, text[-4000:]
        return json.loads(lines[-1].removeprefix("RESULT ")), text

    async def until_running(self, proc: asyncio.subprocess.Process | None = None) -> None:
        """Until a wikipedia job runs in Druid (failing early if `proc` ends first)."""
        async with asyncio.timeout(60):
            while not [
                j for j in await self.jobs(datasource="wikipedia") if j["phase"] == "running"
            ]:
                if proc is not None and proc.returncode is not None:
                    raise AssertionError((await proc.communicate())[0].decode()[-3000:])
                await asyncio.sleep(0.2)

    async def jobs(self, **query: str) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{self.daemon.url}/v1/jobs",
                params=query,
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as answer,
        ):
            return list((await answer.json())["jobs"])


@contextlib.asynccontextmanager
async def stack(
    tmp_path: Path, venv: Path, sim: Simulator, *, port: int = 0
) -> AsyncIterator[Stack]:
    home = new_home(venv, tmp_path / "airflow")
    for name in os.listdir(EXAMPLE):
        if name.endswith(".toml"):
            shutil.copy(EXAMPLE / name, home / "dags" / name)
    async with running(sim) as overlord:
        config = tmp_path / "orch.toml"
        config.write_text(fast_config(overlord, tmp_path / "orch.db", port=port))
        daemon = DaemonProcess(config, env=clean_env(DRUID_ORCH_API_TOKEN=TOKEN))
        await daemon.start()
        s = Stack(sim, daemon, venv, home)
        try:
            yield s
        finally:
            for proc in s.procs:  # a failed test leaves no Airflow process behind
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            await s.daemon.stop()


def task(result: dict[str, Any]) -> dict[str, Any]:
    return next(iter(result["tasks"].values()))


async def test_the_example_dag_backfills_a_month_and_a_rerun_submits_nothing_again(
    tmp_path: Path, airflow_venv: Path
) -> None:
    async with stack(tmp_path, airflow_venv, simulator(min_s=0.1, max_s=0.3)) as s:
        dag = EXAMPLE / "wikipedia_monthly.py"
        result, _ = await s.run_dag(dag, "wikipedia_monthly", JANUARY)
        assert result["state"] == "success"
        summary = task(result)["value"]
        assert len(summary) == 31
        assert summary[0]["interval"].startswith("2024-01-01T")
        assert {j["phase"] for j in summary} == {"succeeded"}
        assert s.sim.stats()["submissions"] == 31
        # The same run again (a clear): the same 31 jobs, found succeeded, none sent again.
        again, _ = await s.run_dag(dag, "wikipedia_monthly", JANUARY)
        assert again["state"] == "success"
        assert [j["job_id"] for j in task(again)["value"]] == [j["job_id"] for j in summary]
        stats = s.sim.stats()
        assert (stats["submissions"], stats["duplicate_submissions"]) == (31, 0)


async def test_a_transient_failure_is_retried_by_the_daemon_within_one_airflow_try(
    tmp_path: Path, airflow_venv: Path
) -> None:
    sim = simulator(scripted={KEY: ["transient:s3_throttle", "success"]})
    async with stack(tmp_path, airflow_venv, sim) as s:
        # DruidOperator's own arguments, as a DAG has them: the swap of the import is enough.
        spec = compile_job(builtin_template(), Interval.parse(DAY)).spec
        (s.home / "dags" / "spec.json").write_text(json.dumps(spec))
        druid_operator_args = (
            'json_index_file="spec.json", druid_ingest_conn_id="druid_ingest_default", '
            "timeout=1, max_ingestion_time=600"
        )
        dag = s.write_dag("spec_dag", druid_operator_args)
        result, _ = await s.run_dag(dag, "spec_dag")
        assert result["state"] == "success"
        assert task(result)["try_number"] == 1
        assert task(result)["value"][0]["attempt"] == 2
        assert s.sim.stats()["submissions"] == 2


async def test_a_structural_failure_fails_at_once_naming_classification_and_rule(
    tmp_path: Path, airflow_venv: Path
) -> None:
    sim = simulator(scripted={KEY: ["structural:parse_errors"]})
    async with stack(tmp_path, airflow_venv, sim) as s:
        # Waiting in the worker slot this time (deferrable=False): the same outcome.
        source = 'pipeline_template="wikipedia.toml", deferrable=False'
        dag = s.write_dag("bad_dag", source, retries=3)
        result, log = await s.run_dag(dag, "bad_dag")
        assert result["state"] == "failed", (await s.jobs(), log[-3000:])
        assert task(result)["state"] == "failed"
        assert task(result)["try_number"] == 1  # no Airflow retry: it would fail the same way
        assert "DruidOrchStructuralFailure" in log
        [job] = await s.jobs(datasource="wikipedia")
        assert job["rule"]
        assert f"structural failure (rule {job['rule']!r})" in log
        assert s.sim.stats()["submissions"] == 1


async def test_an_airflow_retry_reruns_a_dead_job_through_the_daemon_without_duplicates(
    tmp_path: Path, airflow_venv: Path
) -> None:
    sim = simulator(scripted={KEY: ["transient:s3_throttle", "success"]})
    async with stack(tmp_path, airflow_venv, sim) as s:
        # One Druid attempt per Airflow try: the first try's job dies (transient), the
        # Airflow retry submits the same spec, finds the dead job and retries it.
        dag = s.write_dag("retry_dag", 'pipeline_template="wikipedia.toml"', retries=1, attempts=1)
        result, log = await s.run_dag(dag, "retry_dag")
        assert result["state"] == "success", log[-3000:]
        assert task(result)["try_number"] == 2
        assert "transient failure (rule" in log
        stats = s.sim.stats()
        assert (stats["submissions"], stats["duplicate_submissions"]) == (2, 0)
        [job] = await s.jobs(datasource="wikipedia")
        assert (job["phase"], job["attempt"]) == ("succeeded", 2)


async def test_killing_the_airflow_task_cancels_its_job(tmp_path: Path, airflow_venv: Path) -> None:
    async with stack(tmp_path, airflow_venv, simulator(min_s=60, max_s=60)) as s:
        dag = s.write_dag("kill_dag", 'pipeline_template="wikipedia.toml"')
        proc = await s.start_dag(dag, "kill_dag", "2024-03-02T00:00:00+00:00")
        await s.until_running(proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        async with asyncio.timeout(20):
            phase = ""
            while phase != "cancelled":
                phase = (await s.jobs(datasource="wikipedia"))[0]["phase"]
                await asyncio.sleep(0.1)
        assert "cancelled job" in out.decode(errors="replace")
        assert s.sim.stats()["submissions"] == 1


TWO_TASKS = """
from datetime import UTC, datetime
from airflow import DAG
from airflow_druid_orch.operators import DruidOrchOperator
with DAG(dag_id="two", schedule=None, start_date=datetime(2024, 3, 1, tzinfo=UTC)):
    DruidOrchOperator(task_id="killed", pipeline_template="wikipedia.toml")
    DruidOrchOperator(task_id="moved", pipeline_template="wikipedia.toml")
"""


async def test_a_deferred_task_killed_cancels_its_jobs_and_a_moved_trigger_does_not(
    tmp_path: Path, airflow_venv: Path
) -> None:
    async with stack(tmp_path, airflow_venv, simulator(min_s=60, max_s=60)) as s:
        template = tomllib.loads((EXAMPLE / "wikipedia.toml").read_text())
        body = {"template": template, "intervals": ["2024-03-01/2024-03-03"]}
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            http.post(f"{s.daemon.url}/v1/jobs", json=body) as answer,
        ):
            killed, moved = [j["job_id"] for j in (await answer.json())["jobs"]]
        dag = s.home / "dags" / "two.py"
        dag.write_text(TWO_TASKS)
        proc = await s.start(TRIGGER_RUNNER, str(dag), "two", killed, moved)
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-4000:]
        result = json.loads(text.rsplit("RESULT ", 1)[1])
        assert result == {"waiting": [True, True], "cancelled": [True, True]}
        phases = {j["job_id"]: j["phase"] for j in await s.jobs(datasource="wikipedia")}
        assert phases[killed] in ("cancelling", "cancelled")
        assert phases[moved] not in ("cancelling", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_trigger_waits_out_a_daemon_restart(tmp_path: Path, airflow_venv: Path) -> None:
    # The daemon comes back on the same port, as under systemd or Kubernetes.
    async with stack(tmp_path, airflow_venv, simulator(min_s=4, max_s=4), port=free_port()) as s:
        dag = s.write_dag("restart_dag", 'pipeline_template="wikipedia.toml"')
        proc = await s.start_dag(dag, "restart_dag", "2024-03-02T00:00:00+00:00")
        await s.until_running()
        stopped = await s.daemon.stop()
        assert stopped.code == 0
        assert "api_internal_error" not in stopped.err  # the trigger's long poll got a 503
        await asyncio.sleep(1)  # the trigger finds nobody there for a while
        s.daemon = await DaemonProcess(s.daemon.config, env=s.daemon.env).start()
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        text = out.decode(errors="replace")
        result = json.loads(text.rsplit("RESULT ", 1)[1])
        assert result["state"] == "success", text[-3000:]
        assert "daemon unavailable, waiting" in text
        stats = s.sim.stats()
        assert (stats["submissions"], stats["duplicate_submissions"]) == (1, 0)
