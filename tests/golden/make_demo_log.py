"""How `demo_v1.jsonl` and its expected states were made. Do NOT regenerate them.

The file records what event schema v1 (the first release's events) looked like when the
demo ran; it pins today's format so that a future change which stops these rows decoding,
or makes them fold to different states, fails `test_eventlog_golden.py`.

    python -m tests.golden.make_demo_log /tmp/demo_v1.jsonl /tmp/demo_v1.expected.json
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
import tempfile
from pathlib import Path

import msgspec

from actors.job.evolve import fold
from actors.job.state import JobState
from eventlog.chain import GENESIS_HASH
from eventlog.retention.archive import ArchiveHeader, EventRow, runs_of, write_archive
from eventlog.upcasting import decode_stored
from service.demo import run_demo

FIELDS = ("phase", "attempt", "task_id", "version", "classification", "rule", "last_error")


def expected_states(rows: list[EventRow]) -> dict[str, dict[str, object]]:
    events: dict[str, list[object]] = {}
    for row in rows:
        events.setdefault(row[1], []).append(decode_stored(row[5]))
    states: dict[str, JobState] = {sid: fold(evs) for sid, evs in events.items()}  # type: ignore[arg-type]
    return {
        sid: {name: getattr(state, name) for name in FIELDS}
        for sid, state in sorted(states.items())
    }


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: python -m tests.golden.make_demo_log OUT.jsonl OUT.expected.json")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "demo.db")
        code = asyncio.run(run_demo(jobs=6, seed=7, db=db, out=io.StringIO()))
        assert code == 0
        conn = sqlite3.connect(db)
        rows: list[EventRow] = [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]), float(r[4]), bytes(r[5]), bytes(r[6]))
            for r in conn.execute(
                "SELECT seq, stream_id, version, type, recorded_at, body, hash FROM events "
                "ORDER BY seq"
            )
        ]
        conn.close()
    header = ArchiveHeader(
        source="druid-orch demo --jobs 6 --seed 7 (event schema v1, file schema 2)",
        created_at=rows[-1][4],
        events=len(rows),
        runs=runs_of(rows, {1: GENESIS_HASH}),
    )
    write_archive(Path(sys.argv[1]), header, rows)
    Path(sys.argv[2]).write_bytes(msgspec.json.format(msgspec.json.encode(expected_states(rows))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
