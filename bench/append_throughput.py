"""Append throughput of the event log against raw `sqlite3`, measured side by side.

For each appender count N (1, 100, 1,000, 10,000), N tasks each append one ~200-byte event
at a time to their own stream and await it (`synchronous=FULL`, hash chain on), until the
round's quota is written. Each append's latency is recorded. Right after each measured run,
the baseline inserts the very same rows (read back from the log) into a fresh file with raw
`sqlite3` `executemany`, 1,000 rows per transaction, same schema and page size, WAL,
`synchronous=FULL`.
Ratios are taken between adjacent runs so that load from other work on the machine hits both.

The log is measured with its default writer (a child process) and, right after, with the
in-process writer thread (`writer="thread"`), so that the two compare within one run:
`ratios.append_vs_raw` is the default's, `ratios.thread_append_vs_raw` the thread's.

    python -m bench.append_throughput                 # full run, prints a table
    python -m bench.append_throughput --quick         # smoke run (a few seconds)
    python -m bench.append_throughput --repeat 3 --json bench/out/append.json
    python -m bench.append_throughput --page-size 4096   # both sides on 4 KiB pages
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import eventlog_cli
from eventlog.events import StatusObserved
from eventlog.sqlite.migrations import DEFAULT_PAGE_SIZE
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.writer_link import WriterMode

FULL_PLAN: dict[int, int] = {1: 2_000, 100: 20_000, 1_000: 50_000, 10_000: 50_000}
QUICK_PLAN: dict[int, int] = {1: 50, 100: 500, 1_000: 2_000, 10_000: 10_000}
RAW_TXN_ROWS = 1_000

_EVENTS_DDL = (
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, "
    "version INTEGER NOT NULL, type TEXT NOT NULL, body BLOB NOT NULL, "
    "recorded_at REAL NOT NULL, hash BLOB NOT NULL, UNIQUE (stream_id, version))"
)


def make_event(appender: int, n: int) -> StatusObserved:
    """A ~200-byte event (212 bytes of JSON), different for every append."""
    return StatusObserved(
        at=1_718_000_000.0 + n,
        task_id=f"index_parallel_wikipedia_2024-01-01T00:00:00Z_a1_{appender:08x}",
        runner_status="RUNNING",
        location=f"middlemanager-{n % 100:02d}.druid.svc.cluster.local:8100/peon-{n % 10:02d}",
    )


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def measure_log(
    path: Path,
    appenders: int,
    total: int,
    writer: WriterMode = "process",
    page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    """N appenders, each awaiting one append at a time, until `total` events are written."""
    rounds = max(1, total // appenders)
    # Two flat lists, not (latency, round) tuples: tuples would be tracked by the collector.
    latencies: list[float] = []
    round_of: list[int] = []
    async with SQLiteEventLog(path, synchronous="FULL", writer=writer, page_size=page_size) as log:
        # Events are made before the clock starts, as the baseline's rows are.
        made = [[make_event(index, n) for n in range(rounds)] for index in range(appenders)]

        async def appender(index: int) -> None:
            stream = f"job:bench-{index:06d}"
            for version, event in enumerate(made[index]):
                started = time.perf_counter()
                await log.append(stream, [event], expected_version=version)
                latencies.append(time.perf_counter() - started)
                round_of.append(version)

        full_collections = gc.get_stats()[2]["collections"]
        started = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for index in range(appenders):
                tg.create_task(appender(index))
        elapsed = time.perf_counter() - started
        full_collections = gc.get_stats()[2]["collections"] - full_collections
        stats = log.stats
    events = appenders * rounds
    order = sorted(range(len(latencies)), key=latencies.__getitem__)
    p99_at = min(len(order) - 1, int(len(order) * 0.99))
    return {
        "events": events,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "p50_ms": 1000 * latencies[order[len(order) // 2]],
        "p99_ms": 1000 * latencies[order[p99_at]],
        "max_ms": 1000 * latencies[order[-1]],
        # How many rounds the slowest 1% of appends came from: 1 means the p99 is the wait
        # of a single batch, so one stall anywhere in the run decides it.
        "slowest_1pct_rounds": len({round_of[i] for i in order[p99_at:]}),
        "full_collections": full_collections,  # the loop's generation-2 GC passes in the run
        "batches": stats.batches,
        "mean_batch": stats.events / max(1, stats.batches),
    }


def read_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT seq, stream_id, version, type, body, recorded_at, hash FROM events ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def measure_raw(
    path: Path, rows: list[tuple[Any, ...]], page_size: int = DEFAULT_PAGE_SIZE
) -> dict[str, Any]:
    """The baseline: the same rows, `executemany` in 1,000-row transactions, WAL + FULL."""
    _remove_db(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size = {page_size}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(_EVENTS_DDL)
        started = time.perf_counter()
        for start in range(0, len(rows), RAW_TXN_ROWS):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows[start : start + RAW_TXN_ROWS],
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
        _remove_db(path)
    return {"events": len(rows), "seconds": elapsed, "events_per_s": len(rows) / elapsed}


def run(
    plan: dict[int, int],
    repeat: int,
    workdir: Path,
    runner: Callable[..., Any],
    page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for attempt in range(repeat):
        for appenders, total in plan.items():
            db = workdir / f"append-{appenders}-{attempt}.db"
            _remove_db(db)
            ours = runner(measure_log(db, appenders, total, page_size=page_size))
            raw = measure_raw(workdir / "raw.db", read_rows(db), page_size)
            _remove_db(db)
            thread = runner(measure_log(db, appenders, total, "thread", page_size))
            _remove_db(db)
            run = {
                "log": ours,
                "raw": raw,
                "thread": thread,
                "ratio": ours["events_per_s"] / raw["events_per_s"],
                "thread_ratio": thread["events_per_s"] / raw["events_per_s"],
            }
            runs.setdefault(str(appenders), []).append(run)
            for name, figures, ratio in (
                ("log", ours, run["ratio"]),
                ("thread", thread, run["thread_ratio"]),
            ):
                print(
                    f"  run {attempt + 1}/{repeat} appenders={appenders:>6} {name:>6}: "
                    f"{figures['events_per_s']:>9,.0f} ev/s  raw {raw['events_per_s']:>9,.0f} "
                    f"ev/s  ratio {ratio:5.2f}  p50 {figures['p50_ms']:6.2f} ms  "
                    f"p99 {figures['p99_ms']:6.2f} ms  mean batch {figures['mean_batch']:7.1f}  "
                    f"slowest 1% from {figures['slowest_1pct_rounds']} round(s), "
                    f"{figures['full_collections']} full GC",
                    flush=True,
                )
    return runs


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians for the headline figures, plus min and max to show the spread."""

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    return {
        "ratios": {
            "append_vs_raw": {
                n: statistics.median(r["ratio"] for r in rs) for n, rs in runs.items()
            },
            "thread_append_vs_raw": {
                n: statistics.median(r["thread_ratio"] for r in rs) for n, rs in runs.items()
            },
        },
        "append_p99_ms": {
            n: statistics.median(r["log"]["p99_ms"] for r in rs) for n, rs in runs.items()
        },
        "thread_append_p99_ms": {
            n: statistics.median(r["thread"]["p99_ms"] for r in rs) for n, rs in runs.items()
        },
        "spread": {
            n: {
                "ratio": spread([r["ratio"] for r in rs]),
                "log_events_per_s": spread([r["log"]["events_per_s"] for r in rs]),
                "raw_events_per_s": spread([r["raw"]["events_per_s"] for r in rs]),
                "p99_ms": spread([r["log"]["p99_ms"] for r in rs]),
                "p50_ms": spread([r["log"]["p50_ms"] for r in rs]),
                "max_ms": spread([r["log"]["max_ms"] for r in rs]),
                "slowest_1pct_rounds": spread([r["log"]["slowest_1pct_rounds"] for r in rs]),
                "thread_ratio": spread([r["thread_ratio"] for r in rs]),
                "thread_p99_ms": spread([r["thread"]["p99_ms"] for r in rs]),
            }
            for n, rs in runs.items()
        },
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    args = eventlog_cli.parse(
        __doc__.splitlines()[0], "runs per appender count", argv, page_size=True
    )
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    runner = eventlog_cli.loop_runner(args.loop)
    print(
        f"append throughput: plan {plan}, {args.repeat} run(s), loop {args.loop}, "
        f"{args.page_size}-byte pages",
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        runs = run(plan, args.repeat, Path(tmp), runner, args.page_size)
    figures = {
        **eventlog_cli.header("append_throughput", args.quick, argv),
        "page_size": args.page_size,
        **summarise(runs),
    }
    for n, ratio in figures["ratios"]["append_vs_raw"].items():
        p99 = figures["append_p99_ms"][n]
        thread = figures["ratios"]["thread_append_vs_raw"][n]
        thread_p99 = figures["thread_append_p99_ms"][n]
        print(
            f"appenders={n:>6}: median ratio {ratio:.2f}, median p99 {p99:.2f} ms "
            f"(writer thread: {thread:.2f}, {thread_p99:.2f} ms)"
        )
    eventlog_cli.write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
