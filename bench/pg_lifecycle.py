"""The lifecycle benchmark with the orchestrator's log in PostgreSQL, beside SQLite.

    python -m bench.pg_lifecycle --jobs 1000 [other bench.lifecycle_load options]

Runs `bench.lifecycle_load` with `--sides orchestrator` twice in a row, the same workload:
once on the SQLite file (as `make bench` does) and once with the log in a fresh PostgreSQL
database of its own (`bench.pg_orchestrator_runner`), and prints the two side by side.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench import lifecycle_load
from tests import pg_support

_URL: list[str] = []
_plain_command = lifecycle_load.side_command
_plain_records = lifecycle_load.orchestrator_records


def _command(side: str, args: Any, workload_file: Path, url: str, run_dir: Path) -> list[str]:
    cmd = _plain_command(side, args, workload_file, url, run_dir)
    if _URL and side == "orchestrator":
        cmd[cmd.index("bench.orchestrator_runner")] = "bench.pg_orchestrator_runner"
        cmd[cmd.index("--db") + 1] = _URL[0]
    return cmd


def _records(db: Path) -> list[tuple[str, float]]:
    if not _URL:
        return _plain_records(db)

    async def read() -> list[tuple[str, float]]:
        conn = await asyncpg.connect(_URL[0])
        try:
            rows = await conn.fetch(
                "SELECT convert_from(body, 'UTF8')::json->>'task_id', recorded_at FROM events "
                "WHERE type IN ('task_succeeded', 'task_failed')"
            )
        finally:
            await conn.close()
        return [(str(r[0]), float(r[1])) for r in rows]

    return asyncio.run(read())


lifecycle_load.side_command = _command
lifecycle_load.orchestrator_records = _records


def main() -> int:
    argv = [*sys.argv[1:], "--sides", "orchestrator"]
    results: dict[str, Any] = {}
    for backend in ("sqlite", "postgres"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            if backend == "postgres":
                with pg_support.database() as url:
                    _URL[:] = [url]
                    code = lifecycle_load.main([*argv, "--json", str(out)])
                    _URL.clear()
            else:
                code = lifecycle_load.main([*argv, "--json", str(out)])
            if code != 0:
                return code
            results[backend] = json.loads(out.read_text())
    keys = (
        "wall_s",
        "cpu_ms_per_job",
        "rss_mb_per_live_job",
        "record_delay_p50_s",
        "record_delay_p99_s",
        "events_per_s",
        "overlord_requests_per_job",
        "duplicate_submissions",
        "ok",
    )
    print("\n| figure (median of the runs' values) | SQLite | PostgreSQL |\n|---|---:|---:|")
    for key in keys:
        row = []
        for backend in ("sqlite", "postgres"):
            values = [run[key] for run in results[backend]["orchestrator"]["runs"]]
            row.append(values[len(values) // 2] if len(values) > 1 else values[0])
        print(f"| {key} | {row[0]} | {row[1]} |")
    print("(the database server's CPU is not in the PostgreSQL side's cpu_ms_per_job)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
