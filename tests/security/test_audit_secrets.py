"""`druid-orch audit history` and `audit export` mask secrets unless `--include-secrets`."""

from __future__ import annotations

from pathlib import Path

from eventlog.events import JobAccepted, SubmitIntended, SubmitRejected, spec_raw
from eventlog.sqlite.store import SQLiteEventLog
from tests.security.planting import input_source
from tests.service.test_cli_audit import audit

SECRETS = ["Zk7aud00000001", "Zk7aud00000002", "Zk7aud00000003", "Zk7aud00000004"]
REFUSED = f'Cannot construct instance of `HttpInputSource`: {{"password":"{SECRETS[1]}"}}'


async def test_history_and_export_mask_secrets_unless_asked_for_them(tmp_path: Path) -> None:
    db = tmp_path / "orch.db"
    spec = {"type": "index_parallel", "spec": {"ioConfig": {"inputSource": input_source(
        "http", SECRETS, "provider")}}}  # fmt: skip
    async with SQLiteEventLog(db) as log:
        accepted = JobAccepted(
            at=1.0, job_id="j1", datasource="ds", interval="i", spec=spec_raw(spec), spec_hash="h"
        )
        intended = SubmitIntended(at=2.0, attempt=1, task_id="t1")
        refused = SubmitRejected(
            at=3.0, attempt=1, task_id="t1", http_status=400, error_code=None, message=REFUSED
        )
        await log.append("job:j1", [accepted, intended, refused], 0)
    for command in (["history", "j1"], ["history", "j1", "--json"], ["export"]):
        shown = audit(*command, "--db", str(db))
        assert shown.code == 0, shown.err
        assert "Cannot construct instance" in shown.out or "spec" in shown.out
        for secret in SECRETS:
            assert secret not in shown.out, (command, secret)
    plain = audit("export", "--db", str(db), "--include-secrets")
    assert all(secret in plain.out for secret in SECRETS)
    history = audit("history", "j1", "--db", str(db), "--json", "--include-secrets")
    assert SECRETS[1] in history.out
