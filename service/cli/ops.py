"""Operating commands: `run`, `submit`, `status`, `cancel`, `retry`, `resume`, `reconcile`.

Every command but `run` talks to a daemon (`--api URL`) or opens the orchestrator in this
process (`--db PATH --overlord URL`, or `--config orch.toml`, with the same Overlord auth and
TLS options as the daemon). `--json` prints machine-readable output; progress and messages go
to stderr then.

Exit codes: 0 success; 1 a job ended dead or cancelled (`--wait`), or the request failed;
2 bad usage, configuration or spec; 3 `--wait` timed out (the jobs go on).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TextIO

from actors.errors import ORCHESTRATOR_ERRORS, ConfigError, NotRetryableError, UnknownJobError
from actors.job.audit import AuditError
from actors.job.state import PHASES
from actors.job.view import JobView
from service import logging_setup
from service.cli.local_status import local_views
from service.cli.output import jobs_table, print_json, progress_bar
from service.config import Config, load_config
from service.control import Control, ControlError, RemoteControl, embedded, remote
from service.intake import SubmitRequest, jobs_from_request, request_from_file
from specs.errors import SpecError

FAILED_PHASES = frozenset({"dead", "cancelled"})
FOLLOW_WAIT_S = 2.0  # a change-feed request held this long while nothing changes (progress)


def _run(coro: Any) -> int:
    from service.cli.main import _run as run_loop

    return run_loop(coro)


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run the daemon: orchestrator plus control API")
    p.add_argument("--config", default=os.environ.get("DRUID_ORCH_CONFIG"), help="orch.toml")
    p.add_argument("--check", action="store_true", help="print the effective configuration")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("submit", help="submit specs (.json) or pipeline templates (.toml)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--interval", action="append", default=[], help="for templates (repeatable)")
    p.add_argument("--wait", action="store_true", help="follow the jobs until they end")
    p.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    _target(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="a table of jobs")
    p.add_argument("job_ids", nargs="*", metavar="JOB")
    p.add_argument(
        "--phase", type=_phases, metavar="P,Q", help="only jobs in these phases (comma-separated)"
    )
    p.add_argument("--datasource", help="only jobs of this datasource")
    _target(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cancel", help="cancel jobs (shuts their Druid tasks down)")
    p.add_argument("job_ids", nargs="+", metavar="JOB")
    _target(p)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("retry", help="run dead or cancelled jobs again, with fresh attempts")
    p.add_argument("job_ids", nargs="+", metavar="JOB")
    p.add_argument("--reason", default="", help="why, for the log (the job's history shows it)")
    _target(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("resume", help="resume a datasource paused by structural failures")
    p.add_argument("datasource")
    _target(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("reconcile", help="reconcile the log with the Overlord now")
    _target(p)
    p.set_defaults(func=cmd_reconcile)


def _phases(text: str) -> frozenset[str]:
    """`--phase P,Q`, checked: a misspelt phase would otherwise match no job, silently."""
    phases = frozenset(p.strip() for p in text.split(",") if p.strip())
    unknown = sorted(phases - set(PHASES))
    if unknown or not phases:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {', '.join(map(repr, unknown or [text]))} "
            f"(choose from {', '.join(map(repr, PHASES))})"
        )
    return phases


def _target(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where (a daemon, or embedded on a local log)")
    g.add_argument("--api", default=os.environ.get("DRUID_ORCH_API_URL"), help="daemon URL")
    g.add_argument("--token-file", help="bearer token for --api (or DRUID_ORCH_API_TOKEN)")
    g.add_argument("--config", default=os.environ.get("DRUID_ORCH_CONFIG"), help="orch.toml")
    g.add_argument("--db", help="event log file (embedded)")
    g.add_argument("--overlord", help="Overlord URL (embedded)")
    g.add_argument("--overlord-user", help="basic-auth user")
    g.add_argument("--overlord-password-file", help="file holding the basic-auth password")
    g.add_argument("--overlord-token-file", help="file holding a bearer token for Druid")
    g.add_argument("--ca-bundle", help="CA certificates for the Overlord's TLS")
    g.add_argument("--no-verify-tls", action="store_true", help="do not check TLS certificates")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {
        "eventlog.db": args.db,
        "overlord.url": args.overlord,
        "overlord.user": args.overlord_user,
        "overlord.password_file": args.overlord_password_file,
        "overlord.token_file": args.overlord_token_file,
        "overlord.ca_bundle": args.ca_bundle,
        "overlord.verify_tls": False if args.no_verify_tls else None,
        "api.enabled": False,
    }
    return load_config(args.config, env=os.environ, overrides=overrides)


def _api_token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            with open(args.token_file) as f:
                return f.read().strip()
        except OSError as exc:
            raise ConfigError(
                f"--token-file: cannot read {args.token_file}: {exc.strerror}"
            ) from exc
    return os.environ.get("DRUID_ORCH_API_TOKEN")


@contextlib.asynccontextmanager
async def _control(args: argparse.Namespace) -> AsyncIterator[Control]:
    if args.api:
        async with remote(args.api, _api_token(args)) as client:
            yield client
        return
    if args.db is None and args.config is None:
        raise ConfigError("say where: --api URL (a running daemon) or --db PATH --overlord URL")
    config = _config(args)
    async with embedded(config) as control:
        yield control


def _guarded(args: argparse.Namespace, body: Any) -> int:
    """Run a command body with every expected error turned into a message and exit code."""
    logging_setup.configure(args.log_level)
    try:
        try:
            return _run(body)
        except BaseExceptionGroup as group:
            # The orchestrator's task group wraps what our code raised inside it.
            raise _single(group) from None
    except (ConfigError, SpecError) as exc:
        return _fail(f"{exc}", 2)
    except (ControlError, UnknownJobError, NotRetryableError, AuditError) as exc:
        return _fail(str(exc), 1)
    except ORCHESTRATOR_ERRORS as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 1)


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside nested groups, or the group itself when there are several."""
    leaves = _leaves(group)
    return leaves[0] if len(leaves) == 1 else group


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _fail(message: str, code: int) -> int:
    print(f"druid-orch: error: {message}", file=sys.stderr)
    return code


# --- run --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from service.daemon import run_daemon

    try:
        config = load_config(args.config, env=os.environ)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    if args.check:
        print_json(config.dump())
        return 0
    logging_setup.configure(config.logging.level, fmt=config.logging.format)
    try:
        try:
            return _run(run_daemon(config))
        except BaseExceptionGroup as group:
            raise _single(group) from None
    except ORCHESTRATOR_ERRORS as exc:
        return _fail(f"{type(exc).__name__}: {exc}", 2 if isinstance(exc, ConfigError) else 1)


# --- submit -----------------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace) -> int:
    from service.cli.supervisors import apply_files, split_supervisor_files

    # Kafka / Kinesis specs are applied as managed supervisors, not submitted as jobs.
    streams, args.files = split_supervisor_files(args.files)
    if streams:
        code = apply_files(args, streams)
        if code or not args.files:
            return code
    try:
        # The bounds of this configuration (defaults without one), checked before a range is
        # expanded here as they are by the daemon.
        limits = _config(args).limits
        requests = [request_from_file(f, args.interval, limits=limits) for f in args.files]
        for request in requests:
            if request.template is None or request.intervals:
                jobs_from_request(request, limits=limits)  # validate here, before reaching anything
    except (SpecError, ConfigError) as exc:
        return _fail(str(exc), 2)
    missing = [r.name for r in requests if r.template is not None and not r.intervals]
    if missing:
        return _fail(f"{', '.join(str(m) for m in missing)}: a template needs --interval", 2)
    return _guarded(args, _submit(args, requests))


async def _submit(args: argparse.Namespace, requests: list[SubmitRequest]) -> int:
    note = sys.stderr if args.json else sys.stdout
    async with _control(args) as control:
        since = await control.head() if args.wait else 0
        views = await control.submit(requests)
        print(f"accepted {len(views)} jobs", file=note, flush=True)
        if not args.wait:
            if args.json:
                print_json({"jobs": views})
            else:
                jobs_table(views, sys.stdout)
            return 0
        try:
            final = await _follow(control, views, since, note, args.timeout)
        except TimeoutError:
            print(
                f"still running after {args.timeout:g}s; run the same command to follow again",
                file=note,
            )
            return 3
    if args.json:
        print_json({"jobs": final})
    else:
        jobs_table(final, sys.stdout)
    bad = [v for v in final if v.phase in FAILED_PHASES]
    if bad:
        print(f"{len(bad)} of {len(final)} jobs ended dead or cancelled", file=sys.stderr)
    return 1 if bad else 0


async def _follow(
    control: Control, submitted: Sequence[JobView], since: int, out: TextIO, timeout: float | None
) -> list[JobView]:
    """Follow the jobs until every one is terminal, showing progress: a bar on a TTY, else
    lines. The log's change feed after `since` (its position before the submission) says
    what changed, so a request never names the jobs: 10,000 of them cost what 10 do."""
    started = time.monotonic()
    seen: dict[str, tuple[str, int]] = {}
    tty = out.isatty()
    current = {v.job_id: v for v in submitted}
    position = since
    while True:
        views = list(current.values())
        elapsed = time.monotonic() - started
        if tty:
            out.write("\r" + progress_bar(views, elapsed))
        else:
            for v in views:
                if seen.get(v.job_id) != (v.phase, v.attempt):
                    seen[v.job_id] = (v.phase, v.attempt)
                    out.write(f"[{elapsed:6.1f}s] {v.job_id}  {v.phase}  attempt {v.attempt}\n")
        out.flush()
        if views and all(v.terminal for v in views):
            if tty:
                out.write("\n")
            return views
        if timeout is not None and elapsed > timeout:
            if tty:
                out.write("\n")
            raise TimeoutError
        wait = FOLLOW_WAIT_S if timeout is None else max(0.0, min(FOLLOW_WAIT_S, timeout - elapsed))
        changed, position = await control.changes(position, wait)
        for view in changed:
            if view.job_id in current:
                current[view.job_id] = view


# --- status, cancel, resume, reconcile --------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    return _guarded(args, _status(args))


async def _status(args: argparse.Namespace) -> int:
    ids = list(dict.fromkeys(args.job_ids))
    if args.api:
        async with _control(args) as control:
            assert isinstance(control, RemoteControl)
            # Filters go to the daemon, which answers from its read model a page at a time.
            views = await control.views(
                ids or None, phases=args.phase or (), datasource=args.datasource
            )
            if ids:
                await _known(control, ids, views)
    else:
        if args.db:
            db = args.db
        else:
            section = _config(args).eventlog
            db = section.url or section.db
        # The log alone says everything `status` shows: no Overlord, no writer.
        views = local_views(db, ids, args.phase or (), args.datasource)
    views.sort(key=lambda v: v.job_id)
    if args.json:
        print_json({"jobs": views})
    else:
        jobs_table(views, sys.stdout)
        counts = Counter(v.phase for v in views)
        print(f"{len(views)} jobs: " + ", ".join(f"{n} {p}" for p, n in sorted(counts.items())))
    return 0


async def _known(control: RemoteControl, ids: Sequence[str], views: Sequence[JobView]) -> None:
    """Raise for the first named job the log does not hold (it may only be filtered out)."""
    shown = {v.job_id for v in views}
    for job_id in ids:
        if job_id not in shown and not await control.views([job_id]):
            raise UnknownJobError(job_id)


def cmd_cancel(args: argparse.Namespace) -> int:
    return _guarded(args, _cancel(args))


# How long an embedded `cancel` waits for the Druid tasks it shut down to be seen ending, so
# that the jobs it prints (and leaves in the log) are `cancelled`, not still `cancelling`.
CANCEL_SETTLE_S = 15.0


async def _cancel(args: argparse.Namespace) -> int:
    return await _each_job(
        args,
        lambda control, job_id: control.cancel(job_id),
        settle=lambda control, views: control.settle(views, CANCEL_SETTLE_S),
    )


def cmd_retry(args: argparse.Namespace) -> int:
    return _guarded(args, _retry(args))


async def _retry(args: argparse.Namespace) -> int:
    return await _each_job(args, lambda control, job_id: control.retry(job_id, args.reason))


async def _each_job(
    args: argparse.Namespace,
    act: Callable[[Control, str], Awaitable[JobView]],
    settle: Callable[[Control, list[JobView]], Awaitable[list[JobView]]] | None = None,
) -> int:
    """`act` on each of the command's jobs in turn, then print their views.

    A job that cannot be acted on (unknown, or not in a phase that allows it) does not stop
    the others: they are done and shown, its error goes to stderr, and the exit code is 1.
    """
    views: list[JobView] = []
    errors: list[str] = []
    async with _control(args) as control:
        for job_id in args.job_ids:
            try:
                views.append(await act(control, job_id))
            except (UnknownJobError, NotRetryableError) as exc:
                errors.append(str(exc))
            except ControlError as exc:
                if exc.status not in (404, 409):
                    raise  # the daemon is unreachable or refused us: nothing more will work
                errors.append(str(exc))
        if settle is not None:
            views = await settle(control, views)
    if args.json:
        print_json({"jobs": views})
    elif views:
        jobs_table(views, sys.stdout)
    for error in errors:
        _fail(error, 1)
    return 1 if errors else 0


def cmd_resume(args: argparse.Namespace) -> int:
    return _guarded(args, _resume(args))


async def _resume(args: argparse.Namespace) -> int:
    async with _control(args) as control:
        resumed = await control.resume(args.datasource)
    if args.json:
        print_json({"datasource": args.datasource, "resumed": resumed})
    else:
        state = "resumed" if resumed else "was not paused"
        print(f"datasource {args.datasource}: {state}")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    return _guarded(args, _reconcile(args))


async def _reconcile(args: argparse.Namespace) -> int:
    async with _control(args) as control:
        report = await control.reconcile()
    if args.json:
        print_json(report)
        return 0
    decisions = ", ".join(f"{n} {d}" for d, n in sorted(report.get("decisions", {}).items()))
    print(
        f"reconciled {report.get('jobs_checked', 0)} live jobs in "
        f"{report.get('duration_s', 0.0):.2f}s: {decisions or 'nothing to change'}"
    )
    if report.get("orphans"):
        print(f"orphans ({report.get('orphan_action')}): {', '.join(report['orphans'])}")
    if report.get("error"):
        print(f"error: {report['error']}")
        return 1
    return 0
