"""Process CPU time of the PostgreSQL log's appends: what the writer's Python costs.

The wall-clock ratio of `bench/pg_append.py` swings with the machine's load; the CPU time
this process spends on the same work (1,000 appenders, one event each at a time, 50,000
events) swings much less, so a change to the writer is compared here, the old build and the
new alternated by hand (`git stash`), each run printing its runs.

    python -m bench.pg_append_cpu [--runs 3] [--appenders 1000] [--events 50000]
"""

from __future__ import annotations

import argparse
import statistics

import uvloop

from bench.pg_append import timed_appends
from tests import pg_support


async def once(url: str, appenders: int, quota: int) -> tuple[float, float]:
    """(process CPU seconds, events/s) of one round on a fresh schema."""
    cpu, wall, _ = await timed_appends(url, appenders, quota)
    return cpu, (quota // appenders) * appenders / wall


async def rounds(url: str, runs: int, appenders: int, quota: int) -> list[tuple[float, float]]:
    return [await once(url, appenders, quota) for _ in range(runs)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--appenders", type=int, default=1000)
    ap.add_argument("--events", type=int, default=50_000)
    args = ap.parse_args()
    with pg_support.database() as url:
        done = uvloop.run(rounds(url, args.runs, args.appenders, args.events))
    cpus = [c for c, _ in done]
    print(
        f"{args.appenders} appenders, {args.events} events: process CPU "
        + ", ".join(f"{c:.2f} s" for c in cpus)
        + f" (median {statistics.median(cpus):.2f} s); events/s "
        + ", ".join(f"{r:,.0f}" for _, r in done)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
