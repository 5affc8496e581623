"""The commands that drive jobs: `submit`, `cancel`, `retry`, `follow`.

Embedded (`--db --overlord`), the orchestrator lives only while the command runs: it resumes
every live job of the log, not only those named, and what it leaves in flight when it ends
waits for the next command. So each of these commands either waits (`--wait`: progress,
then a table) or says on exit what is left in flight and the one command that picks it up
(`follow`); it says too when it drove jobs it was not asked about. Ctrl-C and `--timeout`
print what is still running and how to follow it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from actors.errors import ConfigError, NotRetryableError, UnknownJobError
from actors.job.audit import AuditError
from actors.job.state import PHASES, TERMINAL
from actors.job.view import JobView
from service.cli.handles import AmbiguousJobError
from service.cli.local_status import local_views
from service.cli.output import jobs_json, jobs_table, print_json, progress_bar
from service.cli.table import DEFAULT_LIMIT, count_line, fit, say, width
from service.cli.target import (
    config_of,
    control_of,
    fail,
    guarded,
    job_ids,
    local_db,
    where,
)
from service.cli.times import relative
from service.control import Control, ControlError, RemoteControl
from service.intake import SubmitRequest, jobs_from_request, request_from_file
from service.job_queries import overlap_warning, spans_by_datasource
from specs.compiler import CompiledJob
from specs.errors import SpecError

FAILED_PHASES = frozenset({"dead", "cancelled"})
LIVE_PHASES = tuple(p for p in PHASES if p not in TERMINAL and p != "new")
FOLLOW_WAIT_S = 2.0  # a change-feed request held this long while nothing changes (progress)
# How long an embedded `cancel` waits for the Druid tasks it shut down to be seen ending, so
# that the jobs it prints (and leaves in the log) are `cancelled`, not still `cancelling`.
CANCEL_SETTLE_S = 15.0


def register(sub: Any, target: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("submit", help="submit specs (.json) or pipeline templates (.toml)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--interval", action="append", default=[], help="for templates (repeatable)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="submit even where a job with another spec already ingested the interval",
    )
    _waiting(p)
    target(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("cancel", help="cancel jobs (shuts their Druid tasks down)")
    p.add_argument("job_ids", nargs="+", metavar="JOB", help="id, handle, datasource/date, prefix")
    target(p)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("retry", help="run dead or cancelled jobs again, with fresh attempts")
    p.add_argument("job_ids", nargs="+", metavar="JOB", help="id, handle, datasource/date, prefix")
    p.add_argument("--reason", default="", help="why, for the log (the job's history shows it)")
    _waiting(p)
    target(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("follow", help="drive and show jobs until they end (default: all live)")
    p.add_argument("job_ids", nargs="*", metavar="JOB", help="id, handle, datasource/date, prefix")
    p.add_argument("--timeout", type=float, help="give up following after this many seconds")
    target(p)
    p.set_defaults(func=cmd_follow, wait=True)


def _waiting(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", action="store_true", help="follow the jobs until they end")
    p.add_argument("--timeout", type=float, help="give up waiting after this many seconds")


def _note(args: argparse.Namespace) -> TextIO:
    return sys.stderr if args.json else sys.stdout


def _live_others(args: argparse.Namespace, ids: Sequence[str]) -> list[JobView]:
    """Embedded: the live jobs of the log other than `ids`, which opening it will drive."""
    if args.api:
        return []
    try:
        live = local_views(local_db(args), [], LIVE_PHASES, None)
    except (AuditError, OSError):
        return []  # no log yet: nothing else to drive
    return [v for v in live if v.job_id not in set(ids)]


def _phases(views: Sequence[JobView]) -> str:
    return ", ".join(f"{n} {p}" for p, n in sorted(Counter(v.phase for v in views).items()))


def in_flight(args: argparse.Namespace, views: Sequence[JobView], out: TextIO) -> None:
    """Say what is left running and the one command that follows it to the end."""
    live = [v for v in views if not v.terminal]
    if not live:
        return
    jobs = "job" if len(live) == 1 else "jobs"
    if args.api:
        say(
            f"{len(live)} {jobs} in flight ({_phases(live)}); the daemon drives them: "
            f"`druid-orch follow {where(args)}` shows them to the end",
            out,
        )
    else:
        say(
            f"{len(live)} {jobs} left in flight ({_phases(live)}): Druid runs what was "
            "submitted, nothing drives the rest until this picks them up: "
            f"`druid-orch follow {where(args)}`",
            out,
        )


def _others_note(args: argparse.Namespace, before: Sequence[JobView], out: TextIO) -> None:
    if before:
        jobs = "job" if len(before) == 1 else "jobs"
        say(
            f"note: this log had {len(before)} other live {jobs} ({_phases(before)}); this "
            f"command drove them too while it ran (`druid-orch status {where(args)}` shows them)",
            out,
        )


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
        limits = config_of(args).limits
        requests = [request_from_file(f, args.interval, limits=limits) for f in args.files]
        compiled: list[CompiledJob] = []
        for request in requests:
            if request.template is None or request.intervals:
                # Validated here, before reaching anything.
                compiled += jobs_from_request(request, limits=limits)
    except (SpecError, ConfigError) as exc:
        return fail(str(exc), 2)
    missing = [r.name for r in requests if r.template is not None and not r.intervals]
    if missing:
        return fail(f"{', '.join(str(m) for m in missing)}: a template needs --interval", 2)
    return guarded(args, _submit(args, requests, compiled))


async def _submit(
    args: argparse.Namespace,
    requests: list[SubmitRequest],
    compiled: Sequence[CompiledJob] = (),
) -> int:
    note = _note(args)
    others = _live_others(args, [])
    replace = getattr(args, "replace", True)
    if compiled and not replace and not args.api:
        warning = overlap_warning(compiled, _local_succeeded(args, compiled))
        if warning:
            return fail(f"{warning}; --replace submits them anyway", 1)
    async with control_of(args) as control:
        if compiled and not replace and isinstance(control, RemoteControl):
            done: list[JobView] = []
            for datasource, span in spans_by_datasource(compiled).items():
                done += await control.views(
                    None, phases=("succeeded",), datasource=datasource, interval=span
                )
            warning = overlap_warning(compiled, done)
            if warning:
                return fail(f"{warning}; --replace submits them anyway", 1)
        since = await control.head() if args.wait else 0
        views = await control.submit(requests)
        ids = {v.job_id for v in views}
        others = [v for v in others if v.job_id not in ids]
        jobs = "job" if len(views) == 1 else "jobs"
        print(f"accepted {len(views)} {jobs}", file=note, flush=True)
        if not args.wait:
            _show(args, views)
            in_flight(args, views, note)
            _others_note(args, others, note)
            return 0
        final = await _follow_or_stop(args, control, views, since, note)
    if final is None:
        return 3
    _others_note(args, others, note)
    return _ended(args, final)


def _local_succeeded(args: argparse.Namespace, jobs: Sequence[CompiledJob]) -> list[JobView]:
    found: list[JobView] = []
    try:
        db = local_db(args)
        for datasource, span in spans_by_datasource(jobs).items():
            found += local_views(db, [], ("succeeded",), datasource, span)
    except (AuditError, OSError):
        return []  # no log yet: nothing ingested
    return found


def _show(args: argparse.Namespace, views: Sequence[JobView]) -> None:
    if args.json:
        print_json(jobs_json(views))
    else:
        jobs_table(views, sys.stdout, limit=DEFAULT_LIMIT)
        print(count_line(views))


def _ended(args: argparse.Namespace, final: Sequence[JobView]) -> int:
    _show(args, final)
    bad = [v for v in final if v.phase in FAILED_PHASES]
    if bad:
        print(f"{len(bad)} of {len(final)} jobs ended dead or cancelled", file=sys.stderr)
    return 1 if bad else 0


async def _follow_or_stop(
    args: argparse.Namespace,
    control: Control,
    views: Sequence[JobView],
    since: int,
    note: TextIO,
) -> list[JobView] | None:
    """The jobs once all have ended; None (said so) when `--timeout` ran out first."""
    current = {v.job_id: v for v in views}
    try:
        return await follow_jobs(control, current, since, note, args.timeout)
    except TimeoutError:
        note.write(f"still running after {args.timeout:g} s\n")
        in_flight(args, list(current.values()), note)
        return None
    except asyncio.CancelledError:  # Ctrl-C: asyncio cancels the command's task
        note.write("interrupted\n")
        in_flight(args, list(current.values()), note)
        raise


async def follow_jobs(
    control: Control,
    current: dict[str, JobView],
    since: int,
    out: TextIO,
    timeout: float | None,
) -> list[JobView]:
    """Follow the jobs until every one is terminal, showing progress: a bar on a TTY, else
    lines. The log's change feed after `since` (its position before the submission) says
    what changed, so a request never names the jobs: 10,000 of them cost what 10 do.
    `current` is kept up to date, so that a caller interrupted knows where the jobs are."""
    started = time.monotonic()
    seen: dict[str, tuple[str, int]] = {}
    tty = out.isatty()
    position = since
    try:
        while True:
            views = list(current.values())
            elapsed = time.monotonic() - started
            if tty:
                out.write("\r" + progress_bar(views, elapsed))
            else:
                for v in views:
                    if seen.get(v.job_id) != (v.phase, v.attempt):
                        seen[v.job_id] = (v.phase, v.attempt)
                        out.write(_change_line(v, elapsed))
            out.flush()
            if views and all(v.terminal for v in views):
                return views
            if timeout is not None and elapsed > timeout:
                raise TimeoutError
            left = FOLLOW_WAIT_S if timeout is None else max(0.0, timeout - elapsed)
            changed, position = await control.changes(position, min(FOLLOW_WAIT_S, left))
            for view in changed:
                if view.job_id in current:
                    current[view.job_id] = view
    finally:
        if tty:  # end the bar's line, however the loop ends (done, timeout, Ctrl-C)
            out.write("\n")
            out.flush()


def _change_line(view: JobView, elapsed: float) -> str:
    from service.cli.handles import base_handle
    from service.cli.table import why

    extra = ""
    if view.next_try_at is not None and not view.terminal:
        extra = f"  next try {relative(view.next_try_at)}"
    reason = why(view)
    if reason:
        extra += f"  {reason}"
    line = f"[{elapsed:6.1f}s] {base_handle(view)}  {view.phase}  attempt {view.attempt}{extra}"
    return fit(line, width()) + "\n"


# --- cancel, retry, follow --------------------------------------------------------------


def cmd_cancel(args: argparse.Namespace) -> int:
    args.wait = False
    return guarded(
        args,
        _each_job(
            args,
            lambda control, job_id: control.cancel(job_id),
            settle=lambda control, views: control.settle(views, CANCEL_SETTLE_S),
        ),
    )


def cmd_retry(args: argparse.Namespace) -> int:
    return guarded(
        args, _each_job(args, lambda control, job_id: control.retry(job_id, args.reason))
    )


def cmd_follow(args: argparse.Namespace) -> int:
    return guarded(args, _follow_command(args))


async def _follow_command(args: argparse.Namespace) -> int:
    note = _note(args)
    ids: list[str] = []
    if not args.api:  # the log as it is before this command drives anything
        ids = await job_ids(args, args.job_ids) if args.job_ids else _live_ids(args)
    async with control_of(args) as control:
        if args.api:
            from service.control import RemoteControl

            assert isinstance(control, RemoteControl)
            if args.job_ids:
                ids = await job_ids(args, args.job_ids, control)
            else:
                ids = [v.job_id for v in await control.views(None, phases=LIVE_PHASES)]
        if not ids:
            print("no live jobs to follow", file=note)
            return 0
        since = await control.head()
        views = await _views(control, ids)
        final = await _follow_or_stop(args, control, views, since, note)
    return 3 if final is None else _ended(args, final)


def _live_ids(args: argparse.Namespace) -> list[str]:
    return [v.job_id for v in local_views(local_db(args), [], LIVE_PHASES, None)]


async def _views(control: Control, ids: Sequence[str]) -> list[JobView]:
    found = {v.job_id: v for v in await control.views(list(ids))}
    return [found[i] for i in ids if i in found]


async def _each_job(
    args: argparse.Namespace,
    act: Callable[[Control, str], Awaitable[JobView]],
    settle: Callable[[Control, list[JobView]], Awaitable[list[JobView]]] | None = None,
) -> int:
    """`act` on each of the command's jobs in turn, then print their views.

    A job that cannot be acted on (unknown, finished, or not in a phase that allows it) does
    not stop the others: they are done and shown, its error goes to stderr, and the exit code
    is 1.
    """
    note = _note(args)
    views: list[JobView] = []
    errors: list[str] = []
    cancelling = settle is not None
    ids = [] if args.api else await _each_name(args, None, errors)
    others = _live_others(args, ids)
    async with control_of(args) as control:
        if args.api:
            ids = await _each_name(args, control, errors)
        before = {v.job_id: v for v in await control.views(ids)}
        since = await control.head() if args.wait else 0
        for job_id in ids:
            was = before.get(job_id)
            if cancelling and was is not None and was.terminal:
                errors.append(_finished(was))
                continue
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
        if args.wait and views:
            final = await _follow_or_stop(args, control, views, since, note)
            if final is None:
                return 3
            views = final
    if views or args.json:
        _show(args, views)
    if not args.wait:
        in_flight(args, views, note)
    _others_note(args, others, note)
    for error in errors:
        fail(error, 1)
    bad = args.wait and any(v.phase in FAILED_PHASES for v in views)
    return 1 if errors or bad else 0


async def _each_name(
    args: argparse.Namespace, control: Control | None, errors: list[str]
) -> list[str]:
    """The ids the command's names name; a name that names no job (or several) is an error
    of its own, and does not stop the others."""
    ids: list[str] = []
    for name in args.job_ids:
        try:
            ids += [i for i in await job_ids(args, [name], control) if i not in ids]
        except (UnknownJobError, AmbiguousJobError) as exc:
            errors.append(str(exc))
    return ids


def _finished(view: JobView) -> str:
    from service.cli.handles import base_handle

    ago = f" {relative(view.finished_at)}" if view.finished_at else ""
    return f"{base_handle(view)} already {view.phase}{ago}: nothing to cancel"
