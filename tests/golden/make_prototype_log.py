"""How `prototype_v0.jsonl` was made. Kept for provenance: do NOT regenerate the golden file.

The golden log is a record of what an older version wrote; regenerating it with today's code
would defeat its purpose. This script reproduces that older version's event classes (the
pre-release prototype, whose base `Event` carried the job id in `task_id`, as STYLE.md §3
still shows) and its file format (the hash chain of `eventlog.chain`, unchanged since), and
writes the log as an archive (`eventlog.retention.archive`).

    python -m tests.golden.make_prototype_log /tmp/prototype_v0.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.retention.archive import ArchiveHeader, ArchiveRun, EventRow, write_archive


class V0Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    task_id: str  # the job id, in the prototype
    at: float


class JobAccepted(V0Event, tag="job_accepted"):
    job_id: str
    datasource: str
    interval: str
    spec: dict[str, Any]
    spec_hash: str


class IngestionRequested(V0Event, tag="ingestion_requested"):
    attempt: int
    druid_task_id: str


class IngestionSubmitted(V0Event, tag="ingestion_submitted"):
    attempt: int
    druid_task_id: str


class StatusPolled(V0Event, tag="status_polled"):
    druid_task_id: str
    status: str
    location: str | None = None
    duration: int | None = None
    error: str | None = None


class FailureDiagnosed(V0Event, tag="failure_diagnosed"):
    druid_task_id: str
    classification: str
    rule: str
    reason: str


class RetryScheduled(V0Event, tag="retry_scheduled"):
    next_attempt: int
    delay_s: float
    not_before: float


class JobDied(V0Event, tag="job_dead"):
    reason: str


class CancelRequested(V0Event, tag="cancel_requested"):
    reason: str = "user"


class IngestionCancelled(V0Event, tag="ingestion_cancelled"):
    druid_task_id: str | None = None


def spec(day: str) -> dict[str, Any]:
    return {
        "type": "index_parallel",
        "spec": {
            "dataSchema": {"dataSource": "wikipedia", "granularitySpec": {"intervals": [day]}},
            "ioConfig": {"type": "index_parallel", "inputSource": {"type": "http"}},
        },
    }


def jobs() -> list[tuple[str, list[V0Event]]]:
    t = 1_700_000_000.0
    out: list[tuple[str, list[V0Event]]] = []

    def job(day: str) -> tuple[str, JobAccepted]:
        job_id = f"wikipedia-{day}"
        return job_id, JobAccepted(
            task_id=job_id,
            at=t,
            job_id=job_id,
            datasource="wikipedia",
            interval=f"{day}/P1D",
            spec=spec(day),
            spec_hash=f"sha256:{day}",
        )

    jid, acc = job("2023-11-01")  # succeeds at once
    tid = f"index_parallel_{jid}_a1"
    out.append(
        (
            jid,
            [
                acc,
                IngestionRequested(task_id=jid, at=t + 1, attempt=1, druid_task_id=tid),
                IngestionSubmitted(task_id=jid, at=t + 2, attempt=1, druid_task_id=tid),
                StatusPolled(
                    task_id=jid, at=t + 7, druid_task_id=tid, status="RUNNING", location="mm-1:8100"
                ),
                StatusPolled(
                    task_id=jid, at=t + 70, druid_task_id=tid, status="SUCCESS", duration=61234
                ),
            ],
        )
    )
    jid, acc = job("2023-11-02")  # OOM, retried, succeeds
    t1, t2 = f"index_parallel_{jid}_a1", f"index_parallel_{jid}_a2"
    out.append(
        (
            jid,
            [
                acc,
                IngestionRequested(task_id=jid, at=t + 1, attempt=1, druid_task_id=t1),
                IngestionSubmitted(task_id=jid, at=t + 2, attempt=1, druid_task_id=t1),
                StatusPolled(task_id=jid, at=t + 6, druid_task_id=t1, status="PENDING"),
                StatusPolled(
                    task_id=jid,
                    at=t + 40,
                    druid_task_id=t1,
                    status="FAILED",
                    duration=33000,
                    error="java.lang.OutOfMemoryError: Java heap space",
                ),
                FailureDiagnosed(
                    task_id=jid,
                    at=t + 41,
                    druid_task_id=t1,
                    classification="transient",
                    rule="oom",
                    reason="peon ran out of heap",
                ),
                RetryScheduled(
                    task_id=jid, at=t + 41, next_attempt=2, delay_s=30.0, not_before=t + 71
                ),
                IngestionRequested(task_id=jid, at=t + 72, attempt=2, druid_task_id=t2),
                IngestionSubmitted(task_id=jid, at=t + 73, attempt=2, druid_task_id=t2),
                StatusPolled(task_id=jid, at=t + 80, druid_task_id=t2, status="RUNNING"),
                StatusPolled(task_id=jid, at=t + 150, druid_task_id=t2, status="SUCCESS"),
            ],
        )
    )
    jid, acc = job("2023-11-03")  # bad input: structural, dead
    tid = f"index_parallel_{jid}_a1"
    out.append(
        (
            jid,
            [
                acc,
                IngestionRequested(task_id=jid, at=t + 1, attempt=1, druid_task_id=tid),
                IngestionSubmitted(task_id=jid, at=t + 2, attempt=1, druid_task_id=tid),
                StatusPolled(
                    task_id=jid,
                    at=t + 9,
                    druid_task_id=tid,
                    status="FAILED",
                    error='Unparseable timestamp found! Event: {"ts": "yesterday"}',
                ),
                FailureDiagnosed(
                    task_id=jid,
                    at=t + 10,
                    druid_task_id=tid,
                    classification="structural",
                    rule="parse_errors",
                    reason="unparseable rows over the threshold",
                ),
                JobDied(task_id=jid, at=t + 10, reason="structural failure: parse_errors"),
            ],
        )
    )
    jid, acc = job("2023-11-04")  # still running when the log was taken
    tid = f"index_parallel_{jid}_a1"
    out.append(
        (
            jid,
            [
                acc,
                IngestionRequested(task_id=jid, at=t + 1, attempt=1, druid_task_id=tid),
                IngestionSubmitted(task_id=jid, at=t + 2, attempt=1, druid_task_id=tid),
                StatusPolled(
                    task_id=jid, at=t + 8, druid_task_id=tid, status="RUNNING", location="mm-2:8100"
                ),
            ],
        )
    )
    jid, acc = job("2023-11-05")  # cancelled before it was submitted
    out.append(
        (
            jid,
            [
                acc,
                CancelRequested(task_id=jid, at=t + 1, reason="operator"),
                IngestionCancelled(task_id=jid, at=t + 1),
            ],
        )
    )
    return out


def rows() -> list[EventRow]:
    """Interleave the jobs' events by time, as the prototype's single writer would have."""
    tagged = [
        (event.at, index, n, jid, event)
        for index, (jid, events) in enumerate(jobs())
        for n, event in enumerate(events)
    ]
    tagged.sort(key=lambda x: (x[0], x[1], x[2]))
    out: list[EventRow] = []
    prev = GENESIS_HASH
    versions: dict[str, int] = {}
    for seq, (at, _i, _n, jid, event) in enumerate(tagged, start=1):
        stream = f"job:{jid}"
        versions[stream] = version = versions.get(stream, 0) + 1
        body = msgspec.json.encode(event)
        tag = str(type(event).__struct_config__.tag)
        recorded_at = at + 0.25
        prev = chain_hash(prev, seq, stream, version, tag, recorded_at, body)
        out.append((seq, stream, version, tag, recorded_at, body, prev))
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m tests.golden.make_prototype_log OUT.jsonl", file=sys.stderr)
        return 2
    out = rows()
    header = ArchiveHeader(
        source="druid-orch prototype (pre-release; event schema v0, file schema 1)",
        created_at=1_700_000_200.0,
        events=len(out),
        runs=[ArchiveRun(1, len(out), GENESIS_HASH.hex(), out[-1][6].hex())],
    )
    write_archive(Path(sys.argv[1]), header, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
