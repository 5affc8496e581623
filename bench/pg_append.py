"""Append throughput of the PostgreSQL event log against a raw baseline, same server, same run.

For each appender count N, N tasks each append one ~200-byte event at a time to their own
stream and await it (hash chain on, `synchronous_commit = on`), until the round's quota is
written. Right after, the baseline writes the very same rows (read back from the log, hashes
included) into a fresh `events` table of the same shape with raw asyncpg, 1,000 rows per
transaction, two ways: `executemany`, and `COPY`. Ratios are log / baseline, adjacent runs.

    python -m bench.pg_append                       # 1, 100, 1,000 appenders
    python -m bench.pg_append --quick               # smoke run
    python -m bench.pg_append --repeat 3 --json bench/out/pg_append.json
    python -m bench.pg_append --summaries           # each append also moves its job's phase

With `--summaries` every append carries its job's summary, its phase different from the
previous append's (the read model's row upserted and the jobs-by-phase counts moved, as a
running orchestrator's appends do); the baseline still writes the events alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import asyncpg
import msgspec
import uvloop

from bench.append_throughput import make_event
from eventlog.postgres import PostgresEventLog
from eventlog.summaries import JobSummary
from tests import pg_support

FULL_PLAN = {1: 2_000, 100: 20_000, 1_000: 50_000}
QUICK_PLAN = {1: 100, 100: 1_000, 1_000: 3_000}
RAW_TXN_ROWS = 1_000
# A live job's phases, cycled so that every append changes its job's phase.
PHASES = ("accepted", "submitting", "running", "retry_wait")
RAW_DDL = (
    "DROP TABLE IF EXISTS raw_events; CREATE TABLE raw_events (seq bigint PRIMARY KEY, "
    'stream_id text COLLATE "C" NOT NULL, version bigint NOT NULL, type text NOT NULL, '
    "body bytea NOT NULL, recorded_at double precision NOT NULL, hash bytea NOT NULL, "
    "UNIQUE (stream_id, version))"
)


def make_summary(appender: int, n: int) -> JobSummary:
    """The summary of appender `appender`'s job after its `n`th append: a new phase each time."""
    return JobSummary(
        job_id=f"{appender:06d}",
        datasource="wikipedia",
        interval="2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        phase=PHASES[n % len(PHASES)],
        terminal=False,
        attempt=1,
        max_attempts=3,
    )


async def timed_appends(
    url: str, appenders: int, quota: int, summaries: bool = False
) -> tuple[float, float, int]:
    """`appenders` appending `quota` events between them, one at a time each, to a log on a
    fresh schema (each append with its job's summary if `summaries`): (process CPU seconds,
    wall seconds, batches committed)."""
    conn = await asyncpg.connect(url)
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await conn.close()
    per = quota // appenders
    events = [[make_event(a, n) for n in range(per)] for a in range(appenders)]
    rows = [
        [make_summary(a, n) if summaries else None for n in range(per)] for a in range(appenders)
    ]
    async with PostgresEventLog(url) as log:

        async def appender(index: int) -> None:
            for n, event in enumerate(events[index]):
                await log.append(f"job:{index:06d}", [event], n, summary=rows[index][n])

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(appender(i) for i in range(appenders)))
        took = time.process_time() - cpu, time.perf_counter() - wall, log.stats.batches
        if summaries:  # every job counted once, in its last phase
            last = PHASES[(per - 1) % len(PHASES)]
            assert await log.phase_counts() == {last: appenders}, await log.phase_counts()
        return took


async def measure_log(
    url: str, appenders: int, quota: int, summaries: bool
) -> tuple[float, list[Any]]:
    _, took, batches = await timed_appends(url, appenders, quota, summaries)
    per = quota // appenders
    conn = await asyncpg.connect(url)
    rows = await conn.fetch(
        "SELECT seq, stream_id, version, type, body, recorded_at, hash FROM events ORDER BY seq"
    )
    await conn.close()
    return (appenders * per) / took, [tuple(r) for r in rows] + [batches]


async def measure_raw(url: str, rows: list[tuple[Any, ...]], how: str) -> float:
    conn = await asyncpg.connect(url)
    await conn.execute(RAW_DDL)
    t0 = time.perf_counter()
    for start in range(0, len(rows), RAW_TXN_ROWS):
        chunk = rows[start : start + RAW_TXN_ROWS]
        async with conn.transaction():
            if how == "copy":
                await conn.copy_records_to_table("raw_events", records=chunk)
            else:
                await conn.executemany(
                    "INSERT INTO raw_events VALUES ($1, $2, $3, $4, $5, $6, $7)", chunk
                )
    took = time.perf_counter() - t0
    await conn.close()
    return len(rows) / took


async def run(plan: dict[int, int], repeat: int, summaries: bool = False) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with pg_support.scratch_database() as url:
        for appenders, quota in plan.items():
            points: dict[str, list[float]] = {"log": [], "executemany": [], "copy": []}
            batches: list[int] = []
            for _ in range(repeat):
                rate, rows = await measure_log(url, appenders, quota, summaries)
                batches.append(rows.pop())
                points["log"].append(rate)
                points["executemany"].append(await measure_raw(url, rows, "executemany"))
                points["copy"].append(await measure_raw(url, rows, "copy"))
            med = {k: statistics.median(v) for k, v in points.items()}
            results[str(appenders)] = {
                "events": quota,
                "events_per_s": med,
                "log_vs_executemany": med["log"] / med["executemany"],
                "log_vs_copy": med["log"] / med["copy"],
                "batches": statistics.median(batches),
                "runs": points,
            }
            print(
                f"{appenders:>5} appenders: log {med['log']:8.0f}/s  executemany "
                f"{med['executemany']:8.0f}/s  COPY {med['copy']:8.0f}/s  "
                f"log/executemany {med['log'] / med['executemany']:.2f}  "
                f"log/COPY {med['log'] / med['copy']:.2f}  "
                f"({statistics.median(batches):.0f} transactions)",
                flush=True,
            )
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--appenders", type=int, nargs="*", help="only these points of the plan")
    ap.add_argument("--asyncio", action="store_true", help="asyncio's own loop, not uvloop")
    ap.add_argument(
        "--summaries", action="store_true", help="each append carries a phase-changing summary"
    )
    args = ap.parse_args()
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    if args.appenders:
        plan = {n: plan[n] for n in args.appenders}
    # uvloop, as the daemon runs (`druid-orch run`), for both sides alike.
    runner = asyncio.run if args.asyncio else uvloop.run
    results = runner(run(plan, args.repeat, args.summaries))
    if args.json:
        with open(args.json, "wb") as out:
            out.write(msgspec.json.format(msgspec.json.encode(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
