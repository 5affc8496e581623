"""`druid-orch audit ...`: verify, history, export and replay, over a log on disk.

    druid-orch audit verify --db orch.db              exit 1 with the first problem
    druid-orch audit history JOB_ID --db orch.db      the job's timeline, for a person
    druid-orch audit export --db orch.db [--since T]  JSON Lines for other tools
    druid-orch audit replay --db orch.db --rules NEW.toml   what new rules would change
    druid-orch audit rebuild-summaries --db orch.db   the read model rebuilt from the events
    druid-orch audit compact --db orch.db [--keep-days N]   retention: archive finished jobs

Every command but `rebuild-summaries` and `compact` (which hold the log's lock) reads the
log read-only and needs no Overlord. Every command also takes a log in PostgreSQL, `--db
postgresql://user@host/db`, with the password in `DRUID_ORCH_EVENTLOG_PASSWORD` (docs/ha.md):
`verify` and `rebuild-summaries` through `service.cli.postgres.audit`, the others through
`actors.job.audit.recorded_events`; `compact` then needs `--archive-dir`, and may run beside a
leader. `--json` gives machine output. `history` and
`export` mask secrets (`overlord.redaction`) unless given `--include-secrets`: the log keeps
specs as submitted, and output gets pasted into tickets and chats.
Exit codes: 0 fine, 1 a problem found (verify; replay with `--check` and a changed decision)
or a log that cannot be read (missing, foreign, crafted: as `status --db` says it), 2 bad
usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from actors.errors import ConfigError, UnknownJobError
from actors.job.actor import JobPolicy
from actors.job.audit import AuditError, intent_story, recorded_events, timeline, verify
from actors.job.rule_replay import ReplayReport, replay_failures
from actors.job.summary_audit import rebuild, summaries_problem
from actors.job.view import JobView
from actors.ownership import LogInUseError, owning
from actors.supervision.classification import load_rules
from eventlog.errors import EventLogError
from eventlog.events import (
    AnyEvent,
    FailureClassified,
    JobDied,
    RetryScheduled,
    SubmitIntended,
    event_fields,
)
from eventlog.postgres import is_postgres_url
from eventlog.records import Recorded
from eventlog.retention.closed_streams import RetentionReport
from eventlog.sqlite.store import SQLiteEventLog
from overlord.redaction import redact
from service.cli.handles import AmbiguousJobError
from service.cli.output import show_compacted, show_rebuilt, show_verify
from service.retention import RetentionSection, retention_pass
from specs.errors import SpecError
from specs.intervals import parse_instant


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify, read, export and replay the event log")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    p = commands.add_parser("verify", help="check the hash chain and replay every job stream")
    _common(p)
    p.add_argument(
        "--archives",
        action="store_true",
        help="also check the retention archives against the chain's checkpoints",
    )
    p.set_defaults(func=cmd_verify)

    p = commands.add_parser("history", help="one job's timeline, readable by a person")
    p.add_argument(
        "job_id", metavar="JOB", nargs="?", help="id, handle, datasource/date or id prefix"
    )
    p.add_argument("--interval", help="every job overlapping this interval (or date), in turn")
    _common(p)
    _secrets_flag(p)
    p.set_defaults(func=cmd_history)

    p = commands.add_parser("export", help="every event as JSON Lines on stdout")
    _common(p, with_json=False)
    p.add_argument("--since", help="only events recorded at or after this ISO-8601 time")
    p.add_argument("--after-seq", type=int, default=0, help="only events after this seq")
    _secrets_flag(p)
    p.set_defaults(func=cmd_export)

    p = commands.add_parser("replay", help="re-classify recorded failures with new rules")
    _common(p)
    p.add_argument("--rules", required=True, help="the candidate failure rules (TOML)")
    p.add_argument("--max-attempts", type=int, help="replay with this attempt limit instead")
    p.add_argument(
        "--max-uncounted",
        type=int,
        default=JobPolicy().max_uncounted_failures,
        help="failures of count_attempt = false rules spared per job (default: %(default)s)",
    )
    p.add_argument("--check", action="store_true", help="exit 1 if any decision would change")
    p.set_defaults(func=cmd_replay)

    p = commands.add_parser(
        "rebuild-summaries", help="rebuild the job summaries (the read model) from the events"
    )
    _common(p)
    p.set_defaults(func=cmd_rebuild_summaries)

    p = commands.add_parser(
        "compact", help="archive finished jobs' streams older than --keep-days (retention)"
    )
    _common(p)
    p.add_argument("--keep-days", type=float, default=RetentionSection().keep_days)
    p.add_argument(
        "--archive-dir",
        help="where archives go (default: <db>-archive/ beside a file; needed for postgresql://)",
    )
    p.set_defaults(func=cmd_compact)


def _common(parser: argparse.ArgumentParser, *, with_json: bool = True) -> None:
    parser.add_argument(
        "--db",
        required=True,
        help="the event log: a SQLite file, or postgresql://user@host/db (the password from "
        "DRUID_ORCH_EVENTLOG_PASSWORD)",
    )
    if with_json:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def _secrets_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-secrets",
        action="store_true",
        help="print specs and error text as recorded, passwords included (default: masked)",
    )


def _fail(message: str, code: int = 2) -> int:
    print(f"druid-orch audit: {message}", file=sys.stderr)
    return code


def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.encode(value).decode() + "\n")


def cmd_verify(args: argparse.Namespace) -> int:
    if is_postgres_url(args.db):  # docs/ha.md
        from service.cli.postgres.audit import verify_postgres

        return verify_postgres(args.db, as_json=args.json, archives=args.archives)
    try:
        report = verify(args.db, archives=args.archives)
        summaries_checked = False
        if report.ok:
            summaries_checked, problem = summaries_problem(args.db)
            report = msgspec.structs.replace(report, problem=problem)
    except AuditError as exc:
        return _fail(str(exc), 1)
    return show_verify(args.db, report, summaries_checked=summaries_checked, as_json=args.json)


def cmd_rebuild_summaries(args: argparse.Namespace) -> int:
    if is_postgres_url(args.db):
        from service.cli.postgres.audit import rebuild_postgres

        return rebuild_postgres(args.db, as_json=args.json)
    try:
        rows = rebuild(args.db)
    except (AuditError, LogInUseError) as exc:
        return _fail(str(exc), 1)
    return show_rebuilt(args.db, rows, as_json=args.json)


def cmd_compact(args: argparse.Namespace) -> int:
    """Retention by hand, as the daemon runs it on a schedule (it holds the log's lock, so
    not while a daemon runs: the daemon does it itself)."""
    if args.keep_days < 0:
        return _fail("--keep-days must be 0 or more")
    section = RetentionSection(keep_days=args.keep_days, directory=args.archive_dir)
    if is_postgres_url(args.db):
        from service.cli.postgres.audit import compact_postgres

        return compact_postgres(args.db, section, as_json=args.json)
    if not Path(args.db).is_file():
        return _fail(f"no event log at {args.db}")
    try:
        with owning(args.db):
            report = asyncio.run(_compact(args.db, section))
    except (LogInUseError, EventLogError) as exc:
        return _fail(str(exc))
    return show_compacted(args.db, report, as_json=args.json)


async def _compact(db: str, section: RetentionSection) -> RetentionReport:
    async with SQLiteEventLog(db, writer="thread") as log:
        return await retention_pass(log, db, section)


def cmd_history(args: argparse.Namespace) -> int:
    if args.job_id is None and args.interval is None:
        return _fail("name a job (JOB) or an --interval")
    try:
        ids = _history_ids(args)
        histories = [(job_id, timeline(args.db, job_id)) for job_id in ids]
    except AuditError as exc:
        return _fail(str(exc), 1)
    except (UnknownJobError, AmbiguousJobError) as exc:
        return _fail(str(exc), 1)
    if not histories:
        return _fail(f"no job overlaps {args.interval}", 1)
    if args.json:
        _print_json(
            [
                {
                    "seq": r.seq,
                    "version": r.version,
                    "recorded_at": iso_ms(r.recorded_at),
                    "recorded_at_epoch": r.recorded_at,
                    "event": _shown(event_fields(r.event), args.include_secrets),
                }
                for _, history in histories
                for r in history
            ]
        )
        return 0
    for index, (job_id, history) in enumerate(histories):
        if index:
            print()
        print(f"job {job_id}: {len(history)} events")
        for line in render_timeline(history, include_secrets=args.include_secrets):
            print(line)
    return 0


def _history_ids(args: argparse.Namespace) -> list[str]:
    """The jobs `history` tells: the one named (its id, or any name `status` takes), and
    with `--interval` every job overlapping it (only the named one's, when one is named).

    Raises:
        AuditError: no such job (the log's own message), or the log is unreadable.
    """
    from service.cli.handles import resolve, when_interval
    from service.cli.local_status import local_by_ids, local_views

    interval = when_interval(args.interval) or args.interval if args.interval else None

    async def find(datasource: str | None, span: str | None) -> list[JobView]:
        return local_views(args.db, [], (), datasource, span)

    async def by_id(ids: Sequence[str]) -> list[JobView]:
        return local_by_ids(args.db, ids)

    if args.job_id is None:
        return [v.job_id for v in local_views(args.db, [], (), None, interval)]
    try:
        timeline(args.db, args.job_id)
        return [args.job_id]
    except AuditError as missing:
        try:
            (job_id,) = asyncio.run(resolve([args.job_id], find, by_id))
        except (UnknownJobError, AuditError):
            raise missing from None
    return [job_id]


def cmd_export(args: argparse.Namespace) -> int:
    since: float | None = None
    if args.since:
        try:
            since = parse_instant(args.since).timestamp()
        except SpecError as exc:
            return _fail(f"--since: {exc}")
    out = sys.stdout.buffer
    try:
        with closing(recorded_events(args.db, since=since, after_seq=args.after_seq)) as rows:
            for line in export_lines(rows, include_secrets=args.include_secrets):
                out.write(line + b"\n")
        out.flush()
    except AuditError as exc:
        return _fail(str(exc), 1)
    except BrokenPipeError:
        # The reader (`| head`) has gone: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules)
        report = replay_failures(
            args.db, rules, max_attempts=args.max_attempts, max_uncounted=args.max_uncounted
        )
    except AuditError as exc:
        return _fail(str(exc), 1)
    except ConfigError as exc:
        return _fail(str(exc))
    if args.json:
        _print_json(
            {
                "failures": report.failures,
                "changed_decisions": report.changed_decisions,
                "differences": report.differences,
            }
        )
    else:
        for line in render_report(report):
            print(line)
    return 1 if args.check and report.changed_decisions else 0


# --- text for people -----------------------------------------------------------------------


def when(at: float) -> str:
    return iso_ms(at)


def iso_ms(at: float) -> str:
    """ISO 8601 with its zone, to the millisecond: `2024-01-07T11:10:20.123Z`."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _tag(event: AnyEvent) -> str:
    return str(type(event).__struct_config__.tag)


def _shown(value: Any, include_secrets: bool) -> Any:
    return value if include_secrets else redact(value)


def _facts(event: AnyEvent, include_secrets: bool = False) -> str:
    fields = _shown(event_fields(event), include_secrets)
    fields.pop("type", None)
    fields.pop("at", None)
    fields.pop("report_excerpt", None)
    fields.pop("spec", None)
    if isinstance(event, SubmitIntended):  # told in words by `intent_story`
        fields.pop("interval", None)
        fields.pop("watermark", None)
        fields.pop("sub_tasks", None)
    for key, value in list(fields.items()):
        # Instants people read (`not_before=...`), not epoch seconds.
        if (key.endswith("_at") or key.endswith("not_before")) and isinstance(value, int | float):
            fields[key] = iso_ms(value)
    if "spec_hash" in fields:
        fields["spec_hash"] = str(fields["spec_hash"])[:12]
    return "  ".join(f"{k}={v}" for k, v in fields.items() if v is not None and v != "")


def decision_after(history: list[Recorded], index: int) -> str:
    """What was decided about the failure classified at `history[index]`."""
    classified = history[index].event
    spared = isinstance(classified, FailureClassified) and not classified.counted
    for recorded in history[index + 1 : index + 3]:
        event = recorded.event
        if isinstance(event, RetryScheduled):
            note = " (this failure does not count against the attempts)" if spared else ""
            return f"retry as attempt {event.next_attempt} after {event.delay_s:.1f}s{note}"
        if isinstance(event, JobDied):
            return f"dead: {event.reason}"
    return "none recorded"


def render_timeline(history: list[Recorded], *, include_secrets: bool = False) -> list[str]:
    """The job's story, one line per event, with failures explained (secrets masked unless
    `include_secrets`)."""
    lines: list[str] = []
    for index, recorded in enumerate(history):
        event = recorded.event
        line = f"{when(event.at)}  {_tag(event):<24} {_facts(event, include_secrets)}".rstrip()
        story = intent_story(event) if isinstance(event, SubmitIntended) else None
        lines.append(f"{line}  {story}" if story else line)
        if isinstance(event, FailureClassified):
            lines.append(f"{'':26}rule: {event.rule} -> {event.classification}")
            excerpt = _shown(event.report_excerpt or {}, include_secrets)
            for key, value in excerpt.items():
                text = str(value).strip().replace("\n", "\n" + " " * 30)
                lines.append(f"{'':26}evidence {key}: {text}")
            lines.append(f"{'':26}decision: {decision_after(history, index)}")
    return lines


def export_lines(rows: Iterable[Recorded], *, include_secrets: bool = False) -> Iterator[bytes]:
    """Each stored event as one JSON line, with its place in the log (secrets masked unless
    `include_secrets`)."""
    encoder = msgspec.json.Encoder()
    for recorded in rows:
        yield encoder.encode(
            {
                "seq": recorded.seq,
                "stream_id": recorded.stream_id,
                "version": recorded.version,
                "recorded_at": recorded.recorded_at,
                "event": _shown(event_fields(recorded.event), include_secrets),
            }
        )


def render_report(report: ReplayReport) -> list[str]:
    if not report.differences:
        return [f"{report.failures} recorded failures: the new rules decide every one the same way"]
    lines = [
        f"{report.failures} recorded failures; {len(report.differences)} would be classified "
        f"differently, {report.changed_decisions} with a different decision:",
        "",
    ]
    for d in report.differences:
        mark = "DECISION CHANGES" if d.decision_changed else "same decision"
        lines.append(f"{d.job_id}  attempt {d.attempt}  task {d.task_id}  [{mark}]")
        lines.append(
            f"    recorded: {d.recorded.classification:<10} rule {d.recorded.rule:<24} "
            f"-> {d.recorded.decision}"
        )
        lines.append(
            f"    new:      {d.replayed.classification:<10} rule {d.replayed.rule:<24} "
            f"-> {d.replayed.decision}"
        )
        lines.append(f"    because:  {d.reason}")
    return lines
