"""`druid-orch audit verify|rebuild-summaries|compact --db postgresql://…`: a log in PostgreSQL.

`verify` makes the file's checks, with the file's output and exit codes: the hash chain
(`eventlog.postgres.verify`), every job stream replayed through the FSM, every summary row
compared with the fold of its stream (`actors.job.audit.replayed`,
`actors.job.summary_audit.first_problem`), all over one snapshot of the database, so a
leader appending meanwhile cannot make a row look edited.

`rebuild-summaries` needs no fence and stops no leader: it folds and writes in one
transaction holding the head row, which every append batch takes first
(`eventlog.postgres.summary_repair`), so a running leader's appends wait for the fold, then
upsert their own rows on top; none falls between the fold and the write. The rows are
derived data: a rebuild by a process that does not lead decides nothing.

The password comes from `DRUID_ORCH_EVENTLOG_PASSWORD`, never the URL; messages name the
database by its redacted URL.
"""

from __future__ import annotations

import asyncio
import sys

import msgspec

from actors.errors import InvalidTransitionError
from actors.job.audit import VerifyReport, postgres_password, replayed
from actors.job.summary import folded_summaries
from actors.job.summary_audit import first_problem
from eventlog.errors import EventLogError
from eventlog.postgres import PostgresEventLog, redacted
from eventlog.postgres.log_snapshot import LogSnapshot
from eventlog.postgres.writer import DRIVER_ERRORS
from eventlog.retention.closed_streams import RetentionReport
from service.cli.output import show_compacted, show_rebuilt, show_verify
from service.retention import RetentionSection, retention_pass


def _log(url: str) -> PostgresEventLog:
    return PostgresEventLog(url, password=postgres_password())


async def _snapshot(url: str, archives: bool) -> LogSnapshot:
    async with _log(url) as log:
        return await log.audit_snapshot(archives=archives)


def verify_postgres(url: str, *, as_json: bool, archives: bool = False) -> int:
    where = redacted(url)
    try:
        snapshot = asyncio.run(_snapshot(url, archives))
    except (EventLogError, *DRIVER_ERRORS) as exc:
        print(f"druid-orch: audit verify {where}: {exc}", file=sys.stderr)
        return 1
    report, summaries_checked = audited(snapshot)
    return show_verify(where, report, summaries_checked=summaries_checked, as_json=as_json)


def audited(snapshot: LogSnapshot) -> tuple[VerifyReport, bool]:
    """What `audit verify` finds in `snapshot`, and whether it compared the summaries (not
    on a log whose chain or replay failed, nor on one whose summaries were never built)."""
    report = replayed(snapshot.chain, snapshot.records())
    if not (report.ok and snapshot.built):
        return report, False
    problem = first_problem(snapshot.records(), snapshot.summaries(), lambda: snapshot.counts)
    return msgspec.structs.replace(report, problem=problem), True


async def rebuild(log: PostgresEventLog) -> int:
    """Rewrite every summary row of `log` from the fold of its events; the rows written."""
    return await log.rebuild_summaries_holding_head(folded_summaries)


async def _rebuild(url: str) -> int:
    async with _log(url) as log:
        return await rebuild(log)


def rebuild_postgres(url: str, *, as_json: bool) -> int:
    where = redacted(url)
    try:
        rows = asyncio.run(_rebuild(url))
    except InvalidTransitionError as exc:
        print(
            f"druid-orch: audit rebuild-summaries {where}: a job stream does not replay: {exc}",
            file=sys.stderr,
        )
        return 1
    except (EventLogError, *DRIVER_ERRORS) as exc:
        print(f"druid-orch: audit rebuild-summaries {where}: {exc}", file=sys.stderr)
        return 1
    return show_rebuilt(where, rows, as_json=as_json)


def compact_postgres(url: str, section: RetentionSection, *, as_json: bool) -> int:
    """`audit compact` by hand on a log in PostgreSQL. Safe beside a running leader: each
    group is archived in a transaction holding the head row, which every append batch takes
    first (`eventlog.postgres.retention`). The archives go to `--archive-dir` on this
    machine, where `audit verify --archives` must find them later."""
    where = redacted(url)
    if section.directory is None:
        print(
            f"druid-orch: audit compact {where}: give --archive-dir: a database has no folder "
            "beside it for the archives",
            file=sys.stderr,
        )
        return 2

    async def run() -> RetentionReport:
        async with _log(url) as log:
            return await retention_pass(log, url, section)

    try:
        report = asyncio.run(run())
    except (EventLogError, *DRIVER_ERRORS) as exc:
        print(f"druid-orch: audit compact {where}: {exc}", file=sys.stderr)
        return 1
    return show_compacted(where, report, as_json=as_json)
