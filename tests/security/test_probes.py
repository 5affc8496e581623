"""The probes answer anyone, so they say ready or not and why in one line; the reconcile
report (job ids, the Overlord's words) is behind the token."""

from __future__ import annotations

from pathlib import Path

from tests.security.support import call
from tests.service.processes import DaemonProcess, clean_env, fast_config

TOKEN = "probe-token-5k2"


async def test_readiness_is_one_line_and_the_failed_reconcile_is_behind_the_token(
    tmp_path: Path,
) -> None:
    config = tmp_path / "orch.toml"
    # Nothing listens on port 9: boot reconciliation fails, and the daemon serves anyway.
    config.write_text(fast_config("http://127.0.0.1:9", tmp_path / "orch.db"))
    process = await DaemonProcess(config, env=clean_env(DRUID_ORCH_API_TOKEN=TOKEN)).start(
        timeout=60
    )
    try:
        status, ready = await call(process.url, "GET", "/readyz")
        assert status == 200
        assert ready == {
            "ready": True,
            "reason": "the Overlord is unreachable; see GET /v1/datasources; "
            "the last reconciliation failed; see GET /v1/reconcile/last",
        }
        assert (await call(process.url, "GET", "/healthz")) == (200, {"status": "ok"})
        assert (await call(process.url, "GET", "/v1/reconcile/last"))[0] == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        status, report = await call(process.url, "GET", "/v1/reconcile/last", headers=auth)
        assert status == 200
        assert report["error"]
    finally:
        result = await process.stop()
    assert result.code == 0, result.err
