"""asyncpg against psycopg 3 on the same appends, same server, same run (issue 23, step 1).

Each driver writes the same batches of event rows (seq, stream, version, type, body, time,
hash) into a table of its own database, one transaction per batch with synchronous_commit
on (a commit is on disk on return), by the two ways a group-committing writer can hand
PostgreSQL many rows: an array-unnest INSERT (one statement per batch) and executemany.

    python -m bench.pg_driver [--batches 300] [--rows 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg

from tests import pg_support

DDL = (
    "CREATE TABLE IF NOT EXISTS ev (seq bigint PRIMARY KEY, stream_id text NOT NULL, "
    "version bigint NOT NULL, type text NOT NULL, body bytea NOT NULL, "
    "recorded_at double precision NOT NULL, hash bytea NOT NULL, UNIQUE (stream_id, version))"
)
UNNEST = (
    "INSERT INTO ev SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], "
    "$5::bytea[], $6::float8[], $7::bytea[])"
)
MANY = "INSERT INTO ev VALUES ($1, $2, $3, $4, $5, $6, $7)"
Row = tuple[int, str, int, str, bytes, float, bytes]


def batches(count: int, size: int, start: int) -> list[list[Row]]:
    body = b'{"type":"status_polled","job_id":"wiki/2024-01-01","status":"RUNNING","at":1.5}'
    out, seq = [], start
    for b in range(count):
        rows = []
        for i in range(size):
            seq += 1
            rows.append((seq, f"job:{b}:{i}", 1, "status_polled", body, 1.5, os.urandom(32)))
        out.append(rows)
    return out


async def run_asyncpg(url: str, work: list[list[Row]], how: str) -> float:
    conn = await asyncpg.connect(url)
    await conn.execute("TRUNCATE ev")
    t0 = time.perf_counter()
    for rows in work:
        async with conn.transaction():
            if how == "unnest":
                await conn.execute(UNNEST, *map(list, zip(*rows, strict=True)))
            else:
                await conn.executemany(MANY, rows)
    took = time.perf_counter() - t0
    await conn.close()
    return took


async def run_psycopg(url: str, work: list[list[Row]], how: str) -> float:
    import psycopg  # not a dependency: `pip install 'psycopg[binary]'` to rerun the comparison

    conn = await psycopg.AsyncConnection.connect(url)
    await conn.execute("TRUNCATE ev")
    await conn.commit()
    unnest = (
        "INSERT INTO ev SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], "
        "%s::text[], %s::bytea[], %s::float8[], %s::bytea[])"
    )
    many = "INSERT INTO ev VALUES (%s, %s, %s, %s, %s, %s, %s)"
    t0 = time.perf_counter()
    for rows in work:
        async with conn.transaction(), conn.cursor() as cur:
            if how == "unnest":
                await cur.execute(unnest, [list(c) for c in zip(*rows, strict=True)])
            else:
                await cur.executemany(many, rows)
    took = time.perf_counter() - t0
    await conn.close()
    return took


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    async with pg_support.scratch_database() as url:
        setup = await asyncpg.connect(url)
        await setup.execute(DDL)
        await setup.close()
        work = batches(args.batches, args.rows, 0)
        events = args.batches * args.rows
        runs: dict[str, list[float]] = {}
        drivers: dict[str, Callable[[str, list[list[Row]], str], Awaitable[float]]] = {
            "asyncpg": run_asyncpg,
            "psycopg": run_psycopg,
        }
        for _ in range(args.repeat):  # interleaved, so load on the machine hits both alike
            for how in ("unnest", "executemany"):
                for driver, fn in drivers.items():
                    took = await fn(url, work, how)
                    runs.setdefault(f"{driver} {how}", []).append(events / took)
        print(f"{args.batches} transactions x {args.rows} rows, synchronous_commit=on")
        for key, rates in runs.items():
            print(f"{key:24s} median {statistics.median(rates):9.0f} events/s  {rates}")


if __name__ == "__main__":
    asyncio.run(main())
