"""`druid-orch audit verify --db postgresql://…`: the hash chain of a log in PostgreSQL.

The password comes from `DRUID_ORCH_EVENTLOG_PASSWORD`, never the URL. The chain walk is the
SQLite file's (`eventlog.postgres.verify`); replaying every job through the FSM and checking
the summaries, which `audit verify` does for a file, are not done here yet (docs/ha.md).
"""

from __future__ import annotations

import asyncio
import os
import sys

from eventlog.chain_report import ChainReport
from eventlog.errors import EventLogError
from eventlog.postgres import PostgresEventLog, redacted
from eventlog.postgres.writer import DRIVER_ERRORS


async def _verify(url: str) -> ChainReport:
    password = os.environ.get("DRUID_ORCH_EVENTLOG_PASSWORD")
    async with PostgresEventLog(url, password=password) as log:
        report: ChainReport = await log.verify()
        return report


def verify_postgres(url: str, *, as_json: bool) -> int:
    where = redacted(url)
    try:
        report = asyncio.run(_verify(url))
    except (EventLogError, *DRIVER_ERRORS) as exc:
        print(f"druid-orch: audit verify {where}: {exc}", file=sys.stderr)
        return 1
    if as_json:
        import msgspec

        body = {**msgspec.to_builtins(report), "ok": report.ok}
        sys.stdout.write(msgspec.json.encode(body).decode() + "\n")
    elif report.broken is None:
        print(f"{where}: OK: {report.events} events; hash chain intact up to seq {report.head_seq}")
        print("note: on PostgreSQL only the chain is checked (no FSM replay, no summary check)")
    else:
        b = report.broken
        at = f" at seq {b.seq}" if b.seq is not None else ""
        print(f"{where}: FAILED ({b.kind}){at}: {b.message}")
    return 0 if report.ok else 1
