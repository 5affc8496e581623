"""One log stream: with JSON logs, the daemon's stderr holds JSON lines only, including what
the standard library logs (our TLS warnings, aiohttp's server errors), and stdout holds only
its `druid-orch: ...` status lines. A secret planted in a submitted spec is in neither."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.security.planting import input_source
from tests.service.processes import DaemonProcess, fast_config, running, simulator
from tests.service.test_api import DAY1, TEMPLATE

SECRETS = ["Zk7uri0001secret", "Zk7pw00002secret", "Zk7hdr0003secret", "Zk7hdr0004secret"]


async def _garbage(url: str) -> None:
    """A request line aiohttp cannot parse: its server logs about it through `logging`."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"\x16\x03\x01 NOT HTTP\r\n\r\n")
    await writer.drain()
    await reader.read()
    writer.close()


async def test_json_mode_prints_only_json_log_lines_and_no_secret(tmp_path: Path) -> None:
    db = tmp_path / "orch.db"
    async with running(simulator()) as overlord:
        config = tmp_path / "orch.toml"
        # A CA bundle with verification off: the client warns through stdlib logging.
        extra = f'verify_tls = false\nca_bundle = "{tmp_path / "ca.pem"}"\n'
        config.write_text(fast_config(overlord, db, overlord_extra=extra))
        daemon = await DaemonProcess(config).start()
        template = {**TEMPLATE, "input": input_source("http", SECRETS, "plain")}
        async with aiohttp.ClientSession() as http:
            body = {"template": template, "intervals": [DAY1]}
            async with http.post(daemon.url + "/v1/jobs", json=body) as response:
                assert response.status in (200, 201, 202), await response.text()
        await _garbage(daemon.url)
        result = await daemon.stop()
    assert result.code == 0, result.err
    logs = [line for line in result.err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in logs]  # raises on any plain line
    assert any("verify_tls is false" in str(p.get("event")) for p in parsed), logs[:5]
    assert all(isinstance(p, dict) and "level" in p for p in parsed)
    status = [line for line in result.out.splitlines() if line.strip()]
    assert status
    assert all(line.startswith("druid-orch: ") for line in status), status
    for secret in SECRETS:
        assert secret not in result.err
        assert secret not in result.out
