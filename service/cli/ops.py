"""Operating commands: `run`, `submit`, `status`, `follow`, `cancel`, `retry`, `resume`,
`reconcile` (the ones that drive jobs live in `service.cli.drive`).

Every command but `run` talks to a daemon (`--api URL`) or opens the orchestrator in this
process (`--db PATH --overlord URL`, or `--config orch.toml`, with the same Overlord auth and
TLS options as the daemon). `--json` prints machine-readable output; progress and messages go
to stderr then. A job is named by its id, its handle (`wikipedia/2024-01-07`), a
`datasource/date`, or a unique prefix of its id.

Exit codes: 0 success; 1 a job ended dead or cancelled (`--wait`), or the request failed;
2 bad usage, configuration or spec; 3 `--wait` timed out (the jobs go on).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from actors.errors import ORCHESTRATOR_ERRORS, ConfigError
from service import logging_setup
from service.cli import drive
from service.cli.drive import follow_jobs
from service.cli.local_status import local_views, overlord_as_recorded
from service.cli.output import jobs_json, jobs_table, print_json
from service.cli.table import DEFAULT_LIMIT, count_line, fit, width
from service.cli.target import (
    add_target,
    config_of,
    control_of,
    described,
    fail,
    guarded,
    job_ids,
    log_location,
    phases_arg,
    run_loop,
    single,
)
from service.config import load_config
from service.control import RemoteControl


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon: orchestrator plus control API")
    p.add_argument("--config", default=os.environ.get("DRUID_ORCH_CONFIG"), help="orch.toml")
    p.add_argument("--check", action="store_true", help="print the effective configuration")
    p.set_defaults(func=cmd_run)

    drive.register(sub, add_target)

    p = sub.add_parser("status", help="a table of jobs")
    p.add_argument("job_ids", nargs="*", metavar="JOB", help="id, handle, datasource/date, prefix")
    p.add_argument(
        "--phase", type=phases_arg, metavar="P,Q", help="only jobs in these phases (P,Q)"
    )
    p.add_argument("--datasource", help="only jobs of this datasource")
    p.add_argument("--interval", help="only jobs overlapping this interval (2024-01-01/2024-02-01)")
    p.add_argument("--wide", action="store_true", help="full ids, intervals and Druid task ids")
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"rows shown (default {DEFAULT_LIMIT}; 0: all); jobs that need a person come first",
    )
    add_target(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("resume", help="resume a datasource paused by structural failures")
    p.add_argument("datasource")
    add_target(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("reconcile", help="reconcile the log with the Overlord now")
    add_target(p)
    p.set_defaults(func=cmd_reconcile)


async def _follow(
    control: Any, views: list[Any], since: int, out: Any, timeout: float | None
) -> list[Any]:
    """`follow_jobs` over a list (the progress display's tests drive it directly)."""
    return await follow_jobs(control, {v.job_id: v for v in views}, since, out, timeout)


# --- run --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from service.daemon import run_daemon

    try:
        config = load_config(args.config, env=os.environ)
    except ConfigError as exc:
        return fail(str(exc), 2)
    if args.check:
        from service.cli.target import check_text

        if sys.stdout.isatty():
            print(check_text(config.dump()))
        else:
            print_json(config.dump())
        return 0
    logging_setup.configure(config.logging.level, fmt=config.logging.format)
    try:
        try:
            return run_loop(run_daemon(config))
        except BaseExceptionGroup as group:
            raise single(group) from None
    except ORCHESTRATOR_ERRORS as exc:
        return fail(described(exc), 2 if isinstance(exc, ConfigError) else 1)


# --- status, resume, reconcile ----------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    if args.limit < 0:
        return fail("--limit: must be 0 (all) or more", 2)
    if args.interval is not None:
        from service.cli.handles import when_interval

        # `2024-01-07` or `2024-01` name an interval as well as `start/end` does.
        args.interval = when_interval(args.interval) or args.interval
    return guarded(args, _status(args))


async def _status(args: argparse.Namespace) -> int:
    header: str | None = None
    filters = {"phases": args.phase or (), "datasource": args.datasource}
    if args.api:
        async with control_of(args) as control:
            assert isinstance(control, RemoteControl)
            ids = await job_ids(args, list(dict.fromkeys(args.job_ids)), control)
            # Filters go to the daemon, which answers from its read model a page at a time.
            views = await control.views(ids or None, interval=args.interval, **filters)
            header = overlord_line(await control.datasources())
    else:
        ids = await job_ids(args, list(dict.fromkeys(args.job_ids)))
        db = args.db or log_location(config_of(args).eventlog)
        # The log alone says everything `status` shows: no Overlord, no writer.
        views = local_views(db, ids, args.phase or (), args.datasource, args.interval)
        recorded = overlord_as_recorded(db)
        if recorded is not None:
            header = overlord_line({"overlord": recorded}) + " (as the log last recorded it)"
    if args.json:  # in job id order, as the API lists them
        print_json(jobs_json(sorted(views, key=lambda v: v.job_id)))
        return 0
    views.sort(key=lambda v: (v.datasource, v.interval, v.job_id))
    room = width()
    if header:
        print(fit(header, room))
    jobs_table(views, sys.stdout, wide=args.wide, limit=args.limit)
    print(fit(count_line(views), room))
    return 0


def overlord_line(found: dict[str, Any]) -> str:
    """`Overlord: reachable` / `Overlord: unreachable since ... (cannot connect ...); next
    probe in 12 s`: its breaker, as `GET /v1/datasources` says."""
    from service.cli.times import relative

    block = found.get("overlord") or {}
    state = block.get("state") or found.get("overlord_breaker") or "unknown"
    reachable = block.get("reachable")
    if state == "closed" and reachable is not False:
        text = "Overlord: reachable" if reachable else "Overlord: not asked yet"
    else:
        text = "Overlord: unreachable" if state == "closed" else f"Overlord: breaker {state}"
        since = block.get("since_epoch") if state != "closed" else None
        since = since or block.get("last_error_at_epoch")
        if since:
            text += f" (last failure {relative(since)})" if state == "closed" else ""
            text += f" since {relative(since)}" if state != "closed" else ""
        if block.get("last_error"):
            text += f": {block['last_error']}"
        if block.get("next_probe_epoch"):
            text += f"; next probe {relative(block['next_probe_epoch'])}"
    paused = found.get("paused") or {}
    if paused:
        text += f"; paused datasources: {', '.join(sorted(paused))}"
    return text


def cmd_resume(args: argparse.Namespace) -> int:
    return guarded(args, _resume(args))


async def _resume(args: argparse.Namespace) -> int:
    async with control_of(args) as control:
        resumed = await control.resume(args.datasource)
    if args.json:
        print_json({"datasource": args.datasource, "resumed": resumed})
    else:
        state = "resumed" if resumed else "was not paused"
        print(f"datasource {args.datasource}: {state}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    return guarded(args, _reconcile(args))


async def _reconcile(args: argparse.Namespace) -> int:
    async with control_of(args) as control:
        report = await control.reconcile()
    if args.json:
        print_json(report)
        return 0
    decisions = ", ".join(f"{n} {d}" for d, n in sorted(report.get("decisions", {}).items()))
    print(
        f"reconciled {report.get('jobs_checked', 0)} live jobs in "
        f"{report.get('duration_s', 0.0):.2f} s: {decisions or 'nothing to change'}"
    )
    if report.get("orphans"):
        print(f"orphans ({report.get('orphan_action')}): {', '.join(report['orphans'])}")
    if report.get("error"):
        print(f"error: {report['error']}")
        return 1
    return 0
