"""`druid-orch compact`: compaction jobs (Druid `compact` tasks) for one datasource.

    druid-orch compact clicks --interval 2024-01-01/2024-02-01 --template clicks.toml --wait
    druid-orch compact legacy --interval 2024-01-01/P7D --max-rows-per-segment 5000000 \\
        --db orch.db --overlord http://overlord:8081

With `--template`, the template's `[pipeline.compaction]` section (its defaults when it has
none) and its granularities describe the jobs, and DATASOURCE must be the template's. Without
one, the options describe them; the segments keep their granularity unless
`--segment-granularity` says otherwise. One job per chunk of each interval, with ids that say
`compact` (see `specs.compaction`), submitted and followed as `submit` does: the same targets
(`--api`, or `--db` and `--overlord`), output, `--wait` and exit codes.
"""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from actors.errors import ConfigError
from service.cli.drive import _submit
from service.cli.target import add_target as _target
from service.cli.target import config_of as _config
from service.cli.target import fail as _fail
from service.cli.target import guarded as _guarded
from service.intake import SubmitRequest, jobs_from_request, request_from_file
from specs.errors import SpecError

__all__ = ["cmd_compact", "register"]

# Options that describe a compaction without a template: (flag, key of the compaction object).
_OPTIONS = (
    ("--segment-granularity", "segment_granularity", str, "e.g. DAY (default: keep the segments')"),
    ("--chunk", "chunk", str, "how a range is split into jobs (default DAY)"),
    ("--max-rows-per-segment", "max_rows_per_segment", int, "dynamic partitioning"),
    ("--max-total-rows", "max_total_rows", int, "dynamic partitioning"),
    ("--target-rows-per-segment", "target_rows_per_segment", int, "hashed partitioning"),
    ("--max-sub-tasks", "max_sub_tasks", int, "parallel sub-tasks per job (default 1)"),
    ("--skip-offset", "skip_offset_from_latest", str, "ISO period to stay behind now, e.g. P1D"),
)


def register(sub: Any) -> None:
    """Add `compact` to the `druid-orch` command line."""
    p = sub.add_parser("compact", help="compact a datasource's segments over intervals")
    p.add_argument("datasource")
    p.add_argument("--interval", action="append", required=True, help="ISO-8601 range (repeatable)")
    p.add_argument("--template", metavar="PIPELINE.toml", help="take the compaction from it")
    group = p.add_argument_group("without a template")
    for flag, key, kind, help_text in _OPTIONS:
        group.add_argument(flag, dest=key, type=kind, help=help_text)
    p.add_argument("--wait", action="store_true", help="follow the jobs until they end")
    p.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    _target(p)
    p.set_defaults(func=cmd_compact)


def cmd_compact(args: argparse.Namespace) -> int:
    """Compile the compaction (exit 2 on a bad one, before reaching anything), then submit."""
    try:
        request = compaction_request(args)
        jobs_from_request(request, limits=_config(args).limits)
    except (SpecError, ConfigError) as exc:
        return _fail(str(exc), 2)
    return _guarded(args, _submit(args, [request]))


def compaction_request(args: argparse.Namespace) -> SubmitRequest:
    """The request `compact` submits.

    Raises:
        SpecError: a template of another datasource, or options given with a template.
    """
    options = {key: getattr(args, key) for _, key, _, _ in _OPTIONS}
    given = {key: value for key, value in options.items() if value is not None}
    if args.template is None:
        return SubmitRequest(
            compaction={"datasource": args.datasource, **given},
            intervals=list(args.interval),
            name=f"compact {args.datasource}",
        )
    if given:
        flags = ", ".join(flag for flag, key, _, _ in _OPTIONS if key in given)
        raise SpecError(
            f"{flags} describe a compaction without a template; with --template, set them "
            "in its [pipeline.compaction] section",
            source=args.template,
            rule="request",
        )
    request = request_from_file(args.template, args.interval)
    template = request.template or {}
    datasource = template.get("pipeline", template).get("datasource")
    if datasource != args.datasource:
        raise SpecError(
            f"the template is for datasource {datasource!r}, not {args.datasource!r}",
            path="$.pipeline.datasource",
            source=args.template,
            rule="request",
        )
    return msgspec.structs.replace(request, kind="compact")
