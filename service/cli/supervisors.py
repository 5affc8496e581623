"""`druid-orch supervisor ...`: managed Kafka / Kinesis supervisors.

    supervisor apply FILE                      a supervisor spec (.json), or a pipeline
                                               template's stream section (.toml)
    supervisor list                            id, datasource, state, health, lag, managed
    supervisor suspend|resume|terminate ID     [--by NAME] [--reason TEXT]
    supervisor reset ID --reason TEXT          [--by NAME] [--yes]: asks on a terminal
    supervisor reset-answer ID --happened | --did-not-happen   [--by NAME]

Like the other operating commands, each talks to a daemon (`--api URL`) or opens the
orchestrator in this process (`--db PATH --overlord URL`, or `--config`). `druid-orch submit`
hands Kafka / Kinesis spec files here too (`split_supervisor_files`).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec

from actors.errors import ConfigError
from actors.streams.facade import SupervisorView
from service.cli.output import print_json
from service.cli.target import add_target as _target
from service.cli.target import api_token as _api_token
from service.cli.target import config_of as _config
from service.cli.target import fail as _fail
from service.cli.target import guarded as _guarded
from service.limits import BoundExceededError, LimitsSection, check_depth
from service.supervisor_control import (
    Action,
    SupervisorControl,
    embedded_supervisors,
    remote_supervisors,
)
from specs.compiler import load_template
from specs.errors import SpecError
from specs.supervisors import compile_supervisor
from specs.text import read_spec_text

__all__ = ["register", "split_supervisor_files"]

SUPERVISOR_TYPES = frozenset({"kafka", "kinesis"})
RESET_WARNING = (
    "Resetting supervisor {sid} makes it forget its stored offsets: its tasks stop and new ones "
    "start from the stream's earliest or latest offset (useEarliestOffset). Data may be skipped "
    "or read twice. Nothing undoes it."
)


def _person() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


def register(sub: Any) -> None:
    top = sub.add_parser("supervisor", help="managed Kafka / Kinesis supervisors")
    commands = top.add_subparsers(dest="supervisor_command", required=True)

    p = commands.add_parser("apply", help="apply a supervisor spec (.json) or template (.toml)")
    p.add_argument("file", metavar="FILE")
    _target(p)
    p.set_defaults(func=cmd_apply)

    p = commands.add_parser("list", help="a table of supervisors, managed or not")
    _target(p)
    p.set_defaults(func=cmd_list)

    for action in ("suspend", "resume", "terminate"):
        p = commands.add_parser(action, help=f"{action} a managed supervisor")
        p.add_argument("supervisor_id", metavar="ID")
        p.add_argument("--by", default=_person(), help="who asks (default: your user name)")
        p.add_argument("--reason", default="", help="why, for the log")
        _target(p)
        p.set_defaults(func=cmd_action, action=action)

    p = commands.add_parser("reset", help="reset a supervisor's offsets (data may be lost)")
    p.add_argument("supervisor_id", metavar="ID")
    p.add_argument("--reason", required=True, help="why (recorded; required)")
    p.add_argument("--by", default=_person(), help="who asks (default: your user name)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _target(p)
    p.set_defaults(func=cmd_reset)

    p = commands.add_parser(
        "reset-answer", help="say whether a reset whose answer was lost happened"
    )
    p.add_argument("supervisor_id", metavar="ID")
    said = p.add_mutually_exclusive_group(required=True)
    said.add_argument("--happened", dest="happened", action="store_true")
    said.add_argument("--did-not-happen", dest="happened", action="store_false")
    p.add_argument("--by", default=_person(), help="who answers (default: your user name)")
    _target(p)
    p.set_defaults(func=cmd_answer)


@contextlib.asynccontextmanager
async def _control(args: argparse.Namespace) -> AsyncIterator[SupervisorControl]:
    if args.api:
        async with remote_supervisors(args.api, _api_token(args)) as remote:
            yield remote
        return
    if args.db is None and args.config is None:
        raise ConfigError("say where: --api URL (a running daemon) or --db PATH --overlord URL")
    async with embedded_supervisors(_config(args)) as local:
        yield local


# --- apply ------------------------------------------------------------------------------


def read_supervisor_spec(path: str) -> dict[str, Any]:
    """A supervisor spec from a JSON file, or from a template's stream section (.toml).

    Raises:
        SpecError: the file cannot be read or holds no supervisor spec.
    """
    text = read_spec_text(path)
    if path.endswith(".toml"):
        return _from_template(path, text)
    try:
        check_depth(text.encode(), LimitsSection().max_json_depth)
        spec = msgspec.json.decode(text)
    except BoundExceededError as exc:
        raise exc.with_source(path) from exc
    except msgspec.DecodeError as exc:
        raise SpecError(f"not valid JSON: {exc}", source=path, rule="json") from exc
    if not isinstance(spec, dict):
        raise SpecError("a supervisor spec must be a JSON object", source=path, rule="json")
    return spec


def _from_template(path: str, text: str) -> dict[str, Any]:
    """The supervisor of a template's `[pipeline.stream]` section (secrets read)."""
    return compile_supervisor(load_template(path, text=text)).spec


def split_supervisor_files(files: Sequence[str]) -> tuple[list[str], list[str]]:
    """`submit`'s files as (Kafka / Kinesis supervisor specs, everything else)."""
    supervisors: list[str] = []
    others: list[str] = []
    for name in files:
        kind: Any = None
        if name.endswith(".json"):
            # Too deep to decode is not a supervisor: `submit` then refuses it, naming the bound.
            with contextlib.suppress(OSError, msgspec.DecodeError, RecursionError):
                data = msgspec.json.decode(Path(name).read_bytes())
                kind = data.get("type") if isinstance(data, dict) else None
        (supervisors if kind in SUPERVISOR_TYPES else others).append(name)
    return supervisors, others


def cmd_apply(args: argparse.Namespace) -> int:
    return apply_files(args, [args.file])


def apply_files(args: argparse.Namespace, files: Sequence[str]) -> int:
    try:
        specs = [read_supervisor_spec(f) for f in files]
    except SpecError as exc:
        return _fail(str(exc), 2)
    return _guarded(args, _apply(args, specs))


async def _apply(args: argparse.Namespace, specs: list[dict[str, Any]]) -> int:
    async with _control(args) as control:
        views = [await control.apply(spec) for spec in specs]
    _show(args, views)
    for view in views:
        if view.pending == "apply":
            print(
                f"{view.supervisor_id}: the Overlord could not be reached; the apply is recorded "
                "and will be sent when it can",
                file=sys.stderr,
            )
    return 0


# --- list, actions ----------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    return _guarded(args, _list(args))


async def _list(args: argparse.Namespace) -> int:
    async with _control(args) as control:
        views = await control.list()
    _show(args, views)
    return 0


def cmd_action(args: argparse.Namespace) -> int:
    return _guarded(args, _action(args, args.action))


async def _action(args: argparse.Namespace, action: Action) -> int:
    async with _control(args) as control:
        view = await control.act(action, args.supervisor_id, args.by, args.reason)
    _show(args, [view])
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        return _fail("a reset needs --reason: why the offsets should move", 2)
    if not args.yes:
        if not sys.stdin.isatty():
            return _fail("reset moves offsets: confirm with --yes when not on a terminal", 2)
        print(RESET_WARNING.format(sid=args.supervisor_id), file=sys.stderr)
        answer = input(f"Type {args.supervisor_id} to reset it: ")
        if answer.strip() != args.supervisor_id:
            return _fail("not confirmed; nothing was reset", 1)
    return _guarded(args, _reset(args))


async def _reset(args: argparse.Namespace) -> int:
    async with _control(args) as control:
        view = await control.reset(args.supervisor_id, args.by, args.reason)
    _show(args, [view])
    return 0


def cmd_answer(args: argparse.Namespace) -> int:
    return _guarded(args, _answer(args))


async def _answer(args: argparse.Namespace) -> int:
    async with _control(args) as control:
        view = await control.answer(args.supervisor_id, args.happened, args.by)
    _show(args, [view])
    return 0


# --- output -----------------------------------------------------------------------------


def _show(args: argparse.Namespace, views: list[SupervisorView]) -> None:
    if args.json:
        print_json({"supervisors": views})
    else:
        supervisors_table(views, sys.stdout)


def supervisors_table(views: Sequence[SupervisorView], out: TextIO) -> None:
    headers = ("ID", "DATASOURCE", "STATE", "DETAILED STATE", "HEALTHY", "LAG", "MANAGED")
    rows = [
        (
            v.supervisor_id,
            v.datasource or "-",
            v.state or (v.pending and f"({v.pending})") or v.desired or "-",
            v.detailed_state or "-",
            "-" if v.healthy is None else ("yes" if v.healthy else "no"),
            _lag(v),
            "yes" if v.managed else "no",
        )
        for v in views
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    for row in (headers, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    for v in views:
        if v.health is not None:
            out.write(f"{v.supervisor_id}: {v.health} ({v.health_rule}): {v.health_reason}\n")
        if v.pending == "reset":
            out.write(f"{v.supervisor_id}: a reset awaits its outcome (see reset-answer)\n")
        elif v.last_error:
            out.write(f"{v.supervisor_id}: last error: {v.last_error}\n")


def _lag(v: SupervisorView) -> str:
    if v.lag is not None:
        return str(v.lag)
    if v.lag_millis is not None:
        return f"{v.lag_millis}ms"
    return "-"
