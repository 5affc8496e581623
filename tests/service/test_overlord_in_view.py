"""The Overlord's health where a person looks: the daemon's ready line, `/readyz`,
`GET /v1/datasources` and the header of `status --api`, with an Overlord that cannot be
reached (nothing listens on port 9)."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from tests.service.processes import ROOT, DaemonProcess, clean_env, cli, fast_config

PIPELINE = str(ROOT / "specs" / "pipelines" / "wikipedia.toml")
GONE = "http://127.0.0.1:9"


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


async def test_an_unreachable_overlord_is_named_by_the_daemon_readyz_api_and_status(
    tmp_path: Path,
) -> None:
    config = tmp_path / "orch.toml"
    config.write_text(fast_config(GONE, tmp_path / "orch.db"))
    daemon = await DaemonProcess(config).start(until="ready")
    try:
        ready_line = next(line for line in daemon.lines if "ready" in line)
        assert re.search(
            r"druid-orch: ready \(Overlord unreachable: cannot connect to http://127\.0\.0\.1:9",
            ready_line,
        ), ready_line
        ready = get(f"{daemon.url}/readyz")
        assert ready["ready"] is True
        assert ready["reason"].startswith("the Overlord is unreachable; see GET /v1/datasources")
        assert "127.0.0.1:9" not in ready["reason"], "the cause is behind the token"
        block = get(f"{daemon.url}/v1/datasources")["overlord"]
        assert block["reachable"] is False
        assert block["last_error"].startswith("cannot connect to http://127.0.0.1:9")
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", block["last_error_at"])
        assert isinstance(block["last_error_at_epoch"], float)
        submitted = await cli(
            "submit", PIPELINE, "--interval", "2024-01-01/2024-01-04", "--api", daemon.url
        )
        assert submitted.code == 0, submitted.err
        assert "3 jobs in flight" in submitted.out
        assert f"`druid-orch follow --api {daemon.url}`" in submitted.out.replace("\n  ", " ")
        # `--api` without a scheme works as people type it.
        bare = daemon.url.removeprefix("http://")
        status = await cli("status", "--api", bare, env=clean_env(COLUMNS="80"))
        assert status.code == 0, status.err
        header = status.out.splitlines()[0]
        assert header.startswith("Overlord: unreachable"), header
        assert "cannot connect to" in header
        assert status.out.splitlines()[-1] == "3 jobs: 3 accepted"
    finally:
        stopped = await daemon.stop()
    assert stopped.code == 0, stopped.err
