"""What the two event-log benchmarks share: their command line, their JSON header, their output.

`bench.append_throughput` and `bench.replay_throughput` take the same options (`--quick`,
`--json OUT`, `--repeat`, `--loop`, `--dir`) and write figures under the same header, so
that `make bench` and the smoke tests read both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE


def parse(
    description: str,
    repeat_help: str,
    argv: Sequence[str] | None,
    *,
    page_size: bool = False,
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    if page_size:
        parser.add_argument(
            "--page-size",
            type=int,
            choices=[2**n for n in range(9, 17)],
            default=DEFAULT_PAGE_SIZE,
            help="SQLite page size of the files written, the log's and the baseline's alike "
            f"(default {DEFAULT_PAGE_SIZE}, the event log's own)",
        )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=None, help=repeat_help)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--dir", help="directory for the database files (default: a temp dir)")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def loop_runner(name: str) -> Callable[..., Any]:
    """`uvloop.run` or `asyncio.run`, as `--loop` says."""
    if name == "uvloop":
        import uvloop

        return uvloop.run
    return asyncio.run


def header(benchmark: str, quick: bool, argv: Sequence[str] | None) -> dict[str, Any]:
    """The keys every event-log benchmark's JSON starts with: what ran, where and when."""
    return {
        "benchmark": benchmark,
        "quick": quick,
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([f"{benchmark}.py", *(argv if argv is not None else sys.argv[1:])]),
    }


def write_json(out: str | None, figures: dict[str, Any]) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_bytes(msgspec.json.format(msgspec.json.encode(figures)))
