"""`druid-orch eventlog copy --from orch.db --to postgresql://…`: move a log to PostgreSQL.

Every event goes over verbatim, the chain is re-verified on the target before the copy is
committed, and a target that already holds a log is refused (docs/ha.md). The target's
password comes from `--password-file` or `DRUID_ORCH_EVENTLOG_PASSWORD`, never the URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from actors.job.audit import postgres_password
from eventlog.errors import EventLogError
from eventlog.postgres import is_postgres_url, redacted


def register(sub: Any) -> None:
    group = sub.add_parser("eventlog", help="event log maintenance (copy to PostgreSQL)")
    commands = group.add_subparsers(dest="eventlog_command", required=True)
    copy = commands.add_parser(
        "copy", help="copy a SQLite event log into an empty PostgreSQL one, chain verified"
    )
    copy.add_argument("--from", dest="source", required=True, help="the SQLite log file")
    copy.add_argument("--to", dest="target", required=True, help="postgresql://user@host/db")
    copy.add_argument("--password-file", help="a file holding the database password")
    copy.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    if not is_postgres_url(args.target):
        print(f"druid-orch: --to {args.target!r} is not a postgresql:// URL", file=sys.stderr)
        return 2
    if not Path(args.source).is_file():
        print(f"druid-orch: --from {args.source}: no such log file", file=sys.stderr)
        return 2
    password = postgres_password()
    if args.password_file:
        try:
            password = Path(args.password_file).read_text().strip()
        except OSError as exc:
            print(f"druid-orch: --password-file: {exc}", file=sys.stderr)
            return 2
    from eventlog.postgres.copy import copy_into, sqlite_rows

    try:
        events, streams, summaries = sqlite_rows(args.source)
        report = asyncio.run(copy_into(args.target, events, streams, summaries, password=password))
    except EventLogError as exc:
        print(f"druid-orch: eventlog copy: {exc}", file=sys.stderr)
        return 1
    except (OSError, Exception) as exc:  # the driver's own errors: unreachable, refused auth
        print(f"druid-orch: eventlog copy to {redacted(args.target)}: {exc}", file=sys.stderr)
        return 1
    print(
        f"copied {report.events} events ({len(streams)} streams, {len(summaries)} job "
        f"summaries) to {redacted(args.target)}; chain verified up to seq {report.head_seq}"
    )
    return 0
