"""`druid-orch coverage DATASOURCE [--from T] [--to T]`: which chunks of a datasource are
succeeded, live, failed, dead or never submitted, as a calendar (`service.cli.calendar`).

From a daemon (`--api URL`) or a log on disk or in PostgreSQL (`--db PATH|postgresql://…`, or
the config's log; read-only, from its job summaries);
coloured on a terminal unless `NO_COLOR` is set, plain letters otherwise; `--json` gives the
cells. Without `--from`/`--to` the calendar spans the datasource's jobs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from actors.job.audit import offline_log, postgres_password
from actors.job.summary import view_of
from actors.job.view import JobView
from eventlog.postgres.urls import is_postgres_url
from service.cli.calendar import build_cells, chunk_of, render
from service.cli.output import print_json
from service.cli.target import api_token as _api_token
from service.cli.target import guarded as _guarded
from service.cli.target import log_location
from service.config import load_config
from service.control import remote
from specs.intervals import format_instant, parse_instant


def register(sub: Any) -> None:
    p = sub.add_parser("coverage", help="a calendar of a datasource's chunks by phase")
    p.add_argument("datasource")
    p.add_argument("--from", dest="start", help="first instant (ISO-8601 date or time)")
    p.add_argument("--to", dest="end", help="end instant, exclusive")
    p.add_argument("--api", default=os.environ.get("DRUID_ORCH_API_URL"), help="daemon URL")
    p.add_argument("--token-file", help="bearer token for --api (or DRUID_ORCH_API_TOKEN)")
    p.add_argument("--db", help="the event log, read-only: a file or postgresql://user@host/db")
    p.add_argument("--config", default=os.environ.get("DRUID_ORCH_CONFIG"), help="orch.toml")
    p.add_argument("--json", action="store_true", help="the cells as JSON")
    p.set_defaults(func=cmd_coverage)


def cmd_coverage(args: argparse.Namespace) -> int:
    return _guarded(args, _coverage(args))


async def _coverage(args: argparse.Namespace) -> int:
    start = format_instant(parse_instant(args.start)) if args.start else None
    end = format_instant(parse_instant(args.end)) if args.end else None
    views = await _views(args, start, end)
    first = parse_instant(start) if start else _edge(views, min, 0)
    last = parse_instant(end) if end else _edge(views, max, 1)
    if first is None or last is None:
        print(f"no jobs of datasource {args.datasource}", file=sys.stderr)
        return 0
    chunk = chunk_of(views)
    found = build_cells(views, first, last, chunk)
    if args.json:
        print_json({"datasource": args.datasource, "cells": found})
        return 0
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(f"{args.datasource}  {format_instant(first)}/{format_instant(last)}")
    for line in render(found, chunk, colour=colour):
        print(line)
    return 0


def _edge(views: list[JobView], pick: Any, side: int) -> Any:
    if not views:
        return None
    return pick(parse_instant(v.interval.split("/")[side]) for v in views)


async def _views(args: argparse.Namespace, start: str | None, end: str | None) -> list[JobView]:
    if args.api:
        async with remote(args.api, _api_token(args)) as client:
            return await client.coverage(args.datasource, start, end)
    db = args.db or log_location(load_config(args.config, env=os.environ).eventlog)
    if is_postgres_url(db):  # docs/ha.md; read-only, as a file is
        from eventlog.postgres import PostgresEventLog

        async with PostgresEventLog(db, password=postgres_password(), readers=1) as pg:
            return [view_of(s) for s in await pg.coverage(args.datasource, start, end)]
    with offline_log(db) as log:
        return [view_of(s) for s in log.coverage(args.datasource, start, end)]
