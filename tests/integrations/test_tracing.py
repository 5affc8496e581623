"""OpenTelemetry traces as an operator sees them: a daemon with `[tracing] enabled = true`
exports, over OTLP/HTTP to a collector (faked here by a server that decodes what it gets), a
`druid.attempt` span per attempt with its Druid task id and, for a failed attempt, the
classification and rule; and `overlord.*` spans for its calls. Off, nothing of OpenTelemetry
is imported."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from actors.errors import ConfigError
from service.telemetry import TracingSection
from service.telemetry.tracing import Tracing
from tests.service.processes import (
    ROOT,
    DaemonProcess,
    clean_env,
    fast_config,
    running,
    simulator,
)

DAY = "2024-03-01T00:00:00.000Z/2024-03-02T00:00:00.000Z"
TEMPLATE = {
    "name": "wiki",
    "datasource": "wikipedia",
    "input": {"type": "http", "uris": ["https://example.com/{date}.json"]},
    "format": {"type": "json"},
}


def value(attribute: Any) -> Any:
    return getattr(attribute.value, attribute.value.WhichOneof("value"))


async def test_a_traced_daemon_exports_attempt_and_overlord_spans(tmp_path: Path) -> None:
    spans: list[dict[str, Any]] = []

    async def collect(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource in export.resource_spans:
            service = {a.key: value(a) for a in resource.resource.attributes}["service.name"]
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: value(a) for a in span.attributes}
                    status = span.status.code
                    spans.append(
                        {
                            "name": span.name,
                            "service": service,
                            "status": status,
                            "start": span.start_time_unix_nano,
                            "end": span.end_time_unix_nano,
                            **attributes,
                        }
                    )
        return web.Response(status=200)

    collector = web.Application()
    collector.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(collector)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sim = simulator(scripted={f"wikipedia/{DAY}": ["transient:s3_throttle", "success"]})
    try:
        async with running(sim) as overlord:
            config = tmp_path / "orch.toml"
            tracing = (
                f'\n[tracing]\nenabled = true\nendpoint = "http://127.0.0.1:{port}/v1/traces"\n'
            )
            config.write_text(fast_config(overlord, tmp_path / "orch.db") + tracing)
            daemon = DaemonProcess(config, env=clean_env())
            await daemon.start()
            try:
                body = {"template": TEMPLATE, "intervals": [DAY]}
                async with aiohttp.ClientSession() as http:
                    async with http.post(f"{daemon.url}/v1/jobs", json=body) as answer:
                        [job] = (await answer.json())["jobs"]
                    for _ in range(200):
                        async with http.get(f"{daemon.url}/v1/jobs/{job['job_id']}") as answer:
                            if (await answer.json())["job"]["phase"] == "succeeded":
                                break
                        await asyncio.sleep(0.05)
            finally:
                result = await daemon.stop()  # the drain exports what is buffered
            assert result.code == 0, result.err[-2000:]
    finally:
        await runner.cleanup()
    attempts = sorted(
        (s for s in spans if s["name"] == "druid.attempt"), key=lambda s: s["druid_orch.attempt"]
    )
    assert [s["druid_orch.attempt"] for s in attempts] == [1, 2]
    assert {s["druid_orch.job_id"] for s in attempts} == {job["job_id"]}
    first, second = attempts
    assert first["druid.task_id"].endswith("_1")
    assert second["druid.task_id"].endswith("_2")
    assert (first["druid_orch.classification"], first["status"]) == ("transient", 2)  # ERROR
    assert first["druid_orch.rule"]
    assert second["status"] == 1  # OK
    assert all(s["end"] > s["start"] for s in attempts)
    assert {s["service"] for s in spans} == {"druid-orch"}
    submits = [s for s in spans if s["name"] == "overlord.submit"]
    assert sorted(s["druid.task_id"] for s in submits) == sorted(
        s["druid.task_id"] for s in attempts
    )
    assert any(s["name"] == "overlord.bulk_status" for s in spans) or any(
        s["name"] == "overlord.status" for s in spans
    )


def test_tracing_off_imports_nothing_of_opentelemetry(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from service.config import load_config\n"
        "from service.daemon import Daemon\n"
        "Daemon(load_config(None, env={}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_tracing_on_without_the_extra_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A None entry in sys.modules makes that import fail, as if the package were missing.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"druid-orchestrator\[otel\]"):
        Tracing.start(TracingSection(enabled=True))
