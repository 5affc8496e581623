"""`druid-orch validate` and `druid-orch compile`: the specs room on the command line.

    druid-orch validate spec.json other.json pipeline.toml
    druid-orch compile pipeline.toml --interval 2024-01-01/2024-01-08 [--capacity 12]
    druid-orch compile pipeline.toml --interval 2024-01-01/2024-01-08 --compaction
    druid-orch compile pipeline.toml --supervisor

`validate` checks Druid task and supervisor specs (`.json`) and pipeline templates
(`.toml`). It prints `file: ok (type)` for each good file and one line per error,
`file: $.path: message [rule]`, for each bad one, and exits 1 if any file failed. A valid
spec that `submit` would still refuse gets a line `file: $.path: warning: message [rule]`
after its `ok` (the exit code stays 0: Druid itself would accept the spec).

`compile` prints one JSON document per job of the range, in time order: pretty by default,
or one canonical line per job with `--canonical` (sorted keys, no whitespace: the bytes the
spec hash is computed from). Each job's id and hash go to stderr. `--capacity` shares that
many free worker slots among the jobs (see `specs.capacity`). `--compaction` prints the
`compact` jobs of the range instead (`[pipeline.compaction]`, or its defaults), and
`--supervisor` the supervisor spec of `[pipeline.stream]`, with every `{ env }` or `{ file }`
secret shown as a marker naming its source, never read. Errors print as `validate` prints
them and exit 1; nothing is submitted either way.

`validate` checks a template's stream and compaction sections too (compiling both, without
reading secrets), and says which it has: `ok (pipeline template, kafka stream, compaction)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from service.intake import job_intervals
from specs.compaction import compile_compaction
from specs.compiler import CompiledJob, PipelineTemplate, compile_range, load_template
from specs.errors import SpecError
from specs.identity import canonical_json, task_id_for
from specs.intervals import Interval
from specs.model import check_spec
from specs.supervisors import compile_supervisor

__all__ = ["cmd_compile", "cmd_validate", "register"]


def register(subparsers: Any) -> None:
    """Add `validate` and `compile` to the `druid-orch` command line."""
    validate = subparsers.add_parser(
        "validate", help="validate Druid specs (.json) and pipeline templates (.toml)"
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=cmd_validate)

    compile_ = subparsers.add_parser(
        "compile", help="compile a pipeline template for an interval and print the spec(s)"
    )
    compile_.add_argument("template", metavar="PIPELINE.toml")
    compile_.add_argument(
        "--interval",
        help="ISO-8601 start/end (or start/period), e.g. 2024-01-01/P7D (not with --supervisor)",
    )
    what = compile_.add_mutually_exclusive_group()
    what.add_argument(
        "--compaction", action="store_true", help="the compact jobs of the range instead"
    )
    what.add_argument(
        "--supervisor", action="store_true", help="the [pipeline.stream] supervisor spec"
    )
    compile_.add_argument(
        "--capacity",
        type=int,
        metavar="N",
        help="free worker slots to share among the jobs (each job's own slot counted)",
    )
    compile_.add_argument(
        "--canonical", action="store_true", help="one canonical JSON line per job"
    )
    compile_.set_defaults(func=cmd_compile)


def cmd_validate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Validate every file; 0 when all are valid (warnings or not), 1 otherwise."""
    out = out or sys.stdout
    failed = False
    for name in args.files:
        kind, errors, warnings = _validate_file(name)
        for error in errors:
            out.write(f"{error.with_source(name)}\n")
        if errors:
            failed = True
            continue
        out.write(f"{name}: ok ({kind})\n")
        for warning in warnings:
            out.write(f"{name}: {warning.path}: warning: {warning.detail} [{warning.rule}]\n")
    return 1 if failed else 0


def _validate_file(name: str) -> tuple[str, list[SpecError], list[SpecError]]:
    """The file's kind, its errors, and (when valid) what `submit` would still refuse."""
    if name.endswith(".toml"):
        try:
            template = load_template(name)
        except SpecError as exc:
            return "pipeline template", [exc], []
        return _template_kind(template), [], []
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        return "", [SpecError(f"cannot read: {exc.strerror or exc}", rule="io")], []
    errors = check_spec(raw)
    if errors:
        return "", errors, []
    spec = json.loads(raw)
    kind = str(spec.get("type"))
    warnings: list[SpecError] = []
    if kind == "index_parallel":
        try:
            job_intervals(spec)
        except SpecError as exc:
            warnings.append(exc)
    return kind, [], warnings


def _template_kind(template: PipelineTemplate) -> str:
    parts = ["pipeline template"]
    if template.stream is not None:
        parts.append(f"{template.stream.type} stream")
    if template.compaction is not None:
        parts.append("compaction")
    return ", ".join(parts)


def cmd_compile(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Compile the template for the interval and print the specs; 1 on any error."""
    out, err = out or sys.stdout, err or sys.stderr
    if args.supervisor:
        return _print_supervisor(args, out, err)
    if args.interval is None:
        err.write(f"{args.template}: --interval is required (but for --supervisor)\n")
        return 1
    try:
        interval = Interval.parse(args.interval)
    except SpecError as exc:
        err.write(f"{args.template}: --interval: {exc.detail} [{exc.rule}]\n")
        return 1
    try:
        template = load_template(args.template)
        jobs: list[CompiledJob] = (
            compile_compaction(template, interval)
            if args.compaction
            else compile_range(template, interval, free_slots=args.capacity)
        )
    except SpecError as exc:
        err.write(f"{exc if exc.source else exc.with_source(args.template)}\n")
        return 1
    for job in jobs:
        err.write(
            f"# job {job.job_id} interval {job.interval} hash {job.spec_hash} "
            f"first task id {task_id_for(job.job_id, 1)}\n"
        )
        _print_spec(job.spec, args.canonical, out)
    return 0


def _print_supervisor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        supervisor = compile_supervisor(load_template(args.template), reveal_secrets=False)
    except SpecError as exc:
        err.write(f"{exc if exc.source else exc.with_source(args.template)}\n")
        return 1
    err.write(
        f"# supervisor {supervisor.supervisor_id} datasource {supervisor.datasource} "
        "(secrets shown as markers, so the hash is not the posted spec's)\n"
    )
    _print_spec(supervisor.spec, args.canonical, out)
    return 0


def _print_spec(spec: dict[str, Any], canonical: bool, out: TextIO) -> None:
    if canonical:
        out.write(canonical_json(spec).decode() + "\n")
    else:
        out.write(json.dumps(spec, indent=2) + "\n")
