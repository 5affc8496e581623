"""Replay throughput of the event log against raw `sqlite3` + msgspec, and boot cost with
snapshots, measured side by side.

Replay: a log of 1,000,000 events (200,000 job streams of 5 events, interleaved as a live
orchestrator writes them) is decoded and folded into per-stream state with
`StreamFolder.fold_all`, using the job FSM's real `evolve` (`JobState`). The baseline, in
the same run, reads the same rows with raw `sqlite3` and decodes each body with msgspec,
and folds nothing. The ratio is events/s of the first over the second. A second figure
folds with a trivial step (count per stream) to show what the store itself costs.

`fold_all` uses two cores (`eventlog/bulk_fold.py`: SQLite builds the next chunk without
the GIL while a thread folds this one); the baseline uses one, as a plain script would. Run
under `taskset -c 0` to see the figure on one core.

Boot: a log of 100,000 finished jobs (closed streams) and 1,000 live ones, each live job
with a snapshot at version 64 and a tail after it, is booted with `StreamFolder.load_open`,
and the rows it read are counted (`SQLiteEventLog.read_stats`), next to a boot with every
snapshot dropped and a full replay of the log. A second boot with snapshots, under
tracemalloc, gives the heap the loaded states hold per live job (each live job's spec is
the built-in wikipedia pipeline's, about 1 KB of JSON).

    python -m bench.replay_throughput                 # full run
    python -m bench.replay_throughput --quick         # smoke run (a few seconds)
    python -m bench.replay_throughput --repeat 3 --json bench/out/replay.json
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import msgspec

from actors.job.evolve import evolve
from actors.job.state import JobState
from bench import eventlog_cli
from eventlog.events import (
    AnyEvent,
    Event,
    JobAccepted,
    StatusObserved,
    SubmitIntended,
    Submitted,
    TaskSucceeded,
    encode_event,
    spec_raw,
)
from eventlog.records import ANY_VERSION
from eventlog.replay import StreamFolder
from eventlog.sqlite.store import SQLiteEventLog
from eventlog.sqlite.writer import WriteConnection
from eventlog.writes.items import AppendItem
from specs.compiler import builtin_template, compile_job
from specs.intervals import Interval

FULL = {"replay_jobs": 200_000, "finished": 100_000, "live": 1_000}
QUICK = {"replay_jobs": 4_000, "finished": 2_000, "live": 50}
SNAPSHOT_AT = 64
LIVE_TAIL = 9
LIVE_SPEC = compile_job(builtin_template(), Interval.parse("2024-01-01/P1D"), max_sub_tasks=2)


def job_events(n: int) -> list[Event]:
    """The five events of a job that succeeded at its first attempt."""
    job_id = f"orch_wikipedia_{n:08d}"
    task_id = f"{job_id}_1"
    return [
        JobAccepted(
            at=1.0,
            job_id=job_id,
            datasource="wikipedia",
            interval="2024-01-01T00:00:00Z/2024-01-02T00:00:00Z",
            spec=spec_raw(
                {"type": "index_parallel", "id": task_id, "spec": {"ioConfig": {"n": n}}}
            ),
            spec_hash=f"{n:064x}",
        ),
        SubmitIntended(at=2.0, attempt=1, task_id=task_id),
        Submitted(at=3.0, attempt=1, task_id=task_id),
        StatusObserved(at=4.0, task_id=task_id, runner_status="RUNNING", location="mm-1:8100"),
        TaskSucceeded(at=5.0, task_id=task_id, duration_ms=60_000),
    ]


def live_events(n: int, count: int) -> list[Event]:
    """A live job that has been polled many times: accepted, submitted, then statuses.

    Its spec is the built-in wikipedia pipeline's (about 1 KB of JSON), so that what boot
    holds per live job is what a real one holds.
    """
    job_id = f"orch_live_{n:06d}"
    task_id = f"{job_id}_1"
    head: list[Event] = [
        JobAccepted(
            at=1.0,
            job_id=job_id,
            datasource="wikipedia",
            interval="2024-01-01T00:00:00Z/2024-01-02T00:00:00Z",
            spec=LIVE_SPEC.spec_json,
            spec_hash=f"{n:064x}",
        ),
        SubmitIntended(at=2.0, attempt=1, task_id=task_id),
        Submitted(at=3.0, attempt=1, task_id=task_id),
    ]
    statuses = [
        StatusObserved(at=4.0 + i, task_id=task_id, runner_status=("PENDING", "RUNNING")[i % 2])
        for i in range(count - len(head))
    ]
    return head + statuses


def write_log(path: Path, appends: Iterator[tuple[str, list[Event], bool]]) -> int:
    """Write appends straight through the writer's core (same rows, no event loop)."""
    writer = WriteConnection(str(path), "OFF")
    writer.open()
    total, batch = 0, []
    for stream, events, close in appends:
        encoded = [(str(type(e).__struct_config__.tag), encode_event(e)) for e in events]
        batch.append(AppendItem(stream, ANY_VERSION, close, encoded))
        total += len(events)
        if len(batch) == 5_000:
            writer.commit(batch, 1_718_000_000.0)
            batch = []
    if batch:
        writer.commit(batch, 1_718_000_000.0)
    writer.close()
    return total


def interleaved_jobs(first: int, count: int) -> Iterator[tuple[str, list[Event], bool]]:
    """Jobs in waves of 1,000 that advance together, as concurrent jobs do."""
    for wave in range(first, first + count, 1000):
        jobs = range(wave, min(wave + 1000, first + count))
        per_job = {n: job_events(n) for n in jobs}
        for step in range(5):
            for n in jobs:
                yield f"job:{n:08d}", [per_job[n][step]], step == 4


def job_folder(light: bool = False) -> StreamFolder[Any]:
    if light:
        return StreamFolder(
            initial=int, evolve=lambda count, _e: count + 1, state_type=int, schema_version=1
        )
    return StreamFolder(
        initial=JobState,
        evolve=cast(Callable[[JobState, AnyEvent], JobState], evolve),
        state_type=JobState,
        schema_version=1,
        snapshot_every=SNAPSHOT_AT,
        snapshot_format="json",
    )


async def replay(path: Path, light: bool) -> float:
    async with SQLiteEventLog(path) as log:
        started = time.perf_counter()
        states = await job_folder(light).fold_all(log)
        elapsed = time.perf_counter() - started
    assert states, "nothing was replayed"
    return elapsed


def raw_read_decode(path: Path) -> float:
    decoder = msgspec.json.Decoder(AnyEvent)
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        decode = decoder.decode
        for row in conn.execute(
            "SELECT seq, stream_id, version, recorded_at, body FROM events ORDER BY seq"
        ):
            decode(row[4])
        return time.perf_counter() - started
    finally:
        conn.close()


def measure_replay(
    workdir: Path, jobs: int, repeat: int, run: Callable[..., Any]
) -> dict[str, Any]:
    path = workdir / "replay.db"
    started = time.perf_counter()
    events = write_log(path, interleaved_jobs(0, jobs))
    print(f"  built {events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
    rounds = []
    for attempt in range(repeat):
        raw = raw_read_decode(path)
        folded = run(replay(path, light=False))
        light = run(replay(path, light=True))
        rounds.append({"raw_s": raw, "fold_s": folded, "light_s": light})
        print(
            f"  run {attempt + 1}/{repeat}: raw read+decode {events / raw:>10,.0f} ev/s   "
            f"decode+fold (JobState) {events / folded:>10,.0f} ev/s ({raw / folded:.2f})   "
            f"decode+count {events / light:>10,.0f} ev/s ({raw / light:.2f})",
            flush=True,
        )
    return {"events": events, "rounds": rounds}


async def boot(path: Path, *, heap: bool = False) -> dict[str, Any]:
    """Boot with `load_open`; with `heap`, also what the loaded states hold (tracemalloc, which
    slows the boot, so that run's time is not the boot time)."""
    async with SQLiteEventLog(path) as log:
        if heap:
            gc.collect()
            tracemalloc.start()
        started = time.perf_counter()
        loaded = await job_folder().load_open(log, "job:", save=False)
        elapsed = time.perf_counter() - started
        if heap:
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            return {"heap_bytes_per_live_job": held / len(loaded)}
        stats = log.read_stats
        return {
            "seconds": elapsed,
            "live_jobs": len(loaded),
            "from_snapshot": sum(1 for x in loaded.values() if x.source == "snapshot"),
            "rows_read": stats.rows,
            "event_rows": stats.event_rows,
            "snapshot_rows": stats.snapshot_rows,
            "stream_rows": stats.stream_rows,
        }


def measure_boot(
    workdir: Path, finished: int, live: int, run: Callable[..., Any]
) -> dict[str, Any]:
    path = workdir / "boot.db"
    count = SNAPSHOT_AT + LIVE_TAIL

    def appends() -> Iterator[tuple[str, list[Event], bool]]:
        yield from interleaved_jobs(0, finished)
        for n in range(live):
            yield f"job:live-{n:06d}", live_events(n, count), False

    started = time.perf_counter()
    total = write_log(path, appends())

    async def snapshot_live() -> None:
        async with SQLiteEventLog(path, synchronous="OFF") as log:
            folder = job_folder()
            for n in range(live):
                events = live_events(n, SNAPSHOT_AT)
                state = JobState()
                for event in events:
                    state = evolve(state, event)
                await log.save_snapshot(f"job:live-{n:06d}", SNAPSHOT_AT, 1, folder.encode(state))

    run(snapshot_live())
    print(f"  built {total:,} events in {time.perf_counter() - started:.1f} s", flush=True)
    with_snapshots = run(boot(path))
    with_snapshots.update(run(boot(path, heap=True)))
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM snapshots")
    conn.commit()
    conn.close()
    without = run(boot(path))
    full = run(replay(path, light=False))
    print(
        f"  boot with snapshots: {with_snapshots['seconds'] * 1000:.0f} ms, "
        f"{with_snapshots['rows_read']:,} rows read of {total:,}, "
        f"{with_snapshots['heap_bytes_per_live_job']:,.0f} bytes of heap held per live job; "
        f"without snapshots: {without['seconds'] * 1000:.0f} ms, {without['rows_read']:,} rows; "
        f"full replay: {full * 1000:.0f} ms",
        flush=True,
    )
    return {
        "log_events": total,
        "finished_jobs": finished,
        "live_jobs": live,
        "with_snapshots": with_snapshots,
        "without_snapshots": without,
        "full_replay_s": full,
    }


def main(argv: list[str] | None = None) -> int:
    args = eventlog_cli.parse(__doc__.splitlines()[0], "replay runs", argv)
    plan = QUICK if args.quick else FULL
    run = eventlog_cli.loop_runner(args.loop)
    print(f"replay throughput: {plan}, {args.repeat} run(s), loop {args.loop}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        replayed = measure_replay(Path(tmp), plan["replay_jobs"], args.repeat, run)
        booted = measure_boot(Path(tmp), plan["finished"], plan["live"], run)
    rounds = replayed["rounds"]
    ratios = [r["raw_s"] / r["fold_s"] for r in rounds]
    light = [r["raw_s"] / r["light_s"] for r in rounds]
    events = replayed["events"]
    figures = {
        **eventlog_cli.header("replay_throughput", args.quick, argv),
        "ratios": {
            "replay_vs_raw": statistics.median(ratios),
            "replay_light_fold_vs_raw": statistics.median(light),
        },
        "replay": {
            "events": events,
            "fold_events_per_s": [events / r["fold_s"] for r in rounds],
            "light_events_per_s": [events / r["light_s"] for r in rounds],
            "raw_events_per_s": [events / r["raw_s"] for r in rounds],
            "ratio_spread": {"min": min(ratios), "max": max(ratios)},
        },
        "boot": booted,
    }
    print(
        f"replay_vs_raw median {figures['ratios']['replay_vs_raw']:.2f} "
        f"(spread {min(ratios):.2f}..{max(ratios):.2f}); with a trivial fold "
        f"{figures['ratios']['replay_light_fold_vs_raw']:.2f}; boot read "
        f"{booted['with_snapshots']['rows_read']:,} rows of {booted['log_events']:,}"
    )
    eventlog_cli.write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
