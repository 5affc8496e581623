"""A full rewrite of the job summaries on PostgreSQL: what the boot's rebuild costs (issue 23).

For each N, a fresh database gets N finished jobs (five events each, closed, with the summary
the orchestrator writes) through the real log; then `actors.job.summary.rebuild_summaries`
folds every stream and rewrites every row in one transaction (delete, upsert, counts), as the
boot does after a migration. Timed twice per run: the whole rebuild, and the write alone
(`PostgresEventLog.rebuild_summaries` with the folded rows, the part the jobs-by-phase count
triggers sit in). The counts are then checked against the rows.

    python -m bench.pg_summary_rebuild                      # 10,000 and 20,000 jobs
    python -m bench.pg_summary_rebuild --jobs 2000 --repeat 1
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

from actors.job.evolve import evolve
from actors.job.state import JobState
from actors.job.summary import folded_summaries, rebuild_summaries, summary_of
from bench.replay_throughput import job_events
from eventlog.postgres import PostgresEventLog
from tests import pg_support

_IN_FLIGHT = 500  # appends awaited at once while the log is built (group commit batches them)


async def build(url: str, jobs: int) -> None:
    """N finished jobs appended through the log, each with its summary, streams closed."""
    conn = await asyncpg.connect(url)
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await conn.close()
    async with PostgresEventLog(url) as log:

        async def one(n: int) -> None:
            events = job_events(n)
            state = JobState()
            for event in events:
                state = evolve(state, event)
            summary = summary_of(state)
            await log.append(f"job:{summary.job_id}", events, 0, close_stream=True, summary=summary)

        for start in range(0, jobs, _IN_FLIGHT):
            await asyncio.gather(*(one(n) for n in range(start, min(jobs, start + _IN_FLIGHT))))


async def timed_rebuilds(url: str, jobs: int) -> dict[str, float]:
    """Seconds for the whole rebuild and for its write alone, on the log at `url`."""
    async with PostgresEventLog(url) as log:
        t0 = time.perf_counter()
        written = await rebuild_summaries(log)
        whole = time.perf_counter() - t0
        assert written == jobs, (written, jobs)
        through = await log.last_seq()
        rows = folded_summaries([r async for r in log.read_all()])
        t0 = time.perf_counter()
        done = await log.rebuild_summaries(list(rows.items()), through)
        write = time.perf_counter() - t0
        assert done, "the log moved during the rebuild"
        counts = await log.phase_counts()
    conn = await asyncpg.connect(url)
    try:
        truth = {
            str(p): int(n)
            for p, n in await conn.fetch("SELECT phase, count(*) FROM job_summaries GROUP BY phase")
        }
    finally:
        await conn.close()
    assert counts == truth == {"succeeded": jobs}, (counts, truth)
    return {"rebuild_s": whole, "write_s": write}


async def run(sizes: list[int], repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with pg_support.scratch_database() as url:
        for jobs in sizes:
            runs: list[dict[str, float]] = []
            for _ in range(repeat):
                await build(url, jobs)
                runs.append(await timed_rebuilds(url, jobs))
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            results[str(jobs)] = {"median": med, "runs": runs}
            print(
                f"{jobs:>7} jobs: rebuild {med['rebuild_s']:7.2f} s  write alone "
                f"{med['write_s']:7.2f} s  (runs: "
                + ", ".join(f"{r['rebuild_s']:.2f}/{r['write_s']:.2f}" for r in runs)
                + ")",
                flush=True,
            )
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, nargs="*", default=[10_000, 20_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    results = uvloop.run(run(args.jobs, args.repeat))
    if args.json:
        with open(args.json, "wb") as out:
            out.write(msgspec.json.format(msgspec.json.encode(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
