"""One template, both halves, end to end: a real daemon drives a Kafka supervisor, a 60-day
daily backfill and its compaction against the simulator while the simulated stream moves
forward, and is SIGKILLed in the middle.

What it holds the product to (issue 19, "Done when"): every day ends ingested, by batch or by
stream, exactly once per day; no batch or compaction task ran where the stream still wrote
(`batch_stream_overlaps` 0); the orchestrator's restart restarted no supervisor; nothing was
submitted twice; and the jobs held back said that the streaming watermark held them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from overlord.sim.cluster import ClusterConfig
from overlord.sim.server import SimConfig, Simulator
from tests.service.processes import DaemonProcess, cli, fast_config, running

DAYS = 60
START = datetime(2024, 1, 1, tzinfo=UTC)
END = START + timedelta(days=DAYS)  # 2024-03-01
# The stream's newest record when the supervisor is created: the backfill's last three days
# are the stream's at first (its late rows reach back an hour, into 02-27).
STREAM_START = "2024-02-28T00:00:00Z"

TEMPLATE = """
[pipeline]
name = "clicks"
datasource = "clicks"
chunk = "DAY"
segment_granularity = "DAY"
query_granularity = "MINUTE"
rollup = true
max_attempts = 5
max_sub_tasks = 1
timestamp_column = "ts"
timestamp_format = "iso"
dimensions = ["page", "country"]
metrics = [{ type = "count", name = "clicks" }]

[pipeline.input]
type = "http"
uris = ["https://data.example.com/clicks/{date}.json.gz"]

[pipeline.format]
type = "json"

[pipeline.stream]
type = "kafka"
topic = "clicks"
task_count = 1
task_duration = "PT1H"
late_message_rejection_period = "PT1H"

[pipeline.stream.consumer_properties]
"bootstrap.servers" = "kafka-1:9092"

[pipeline.compaction]
max_rows_per_segment = 5000000
max_sub_tasks = 1
"""


def hybrid_simulator() -> Simulator:
    cluster = ClusterConfig(
        seed=19,
        workers=2,
        capacity_per_worker=8,
        min_duration_s=0.2,
        max_duration_s=0.5,
        # Four event hours per wall second; a streaming task hands off every wall second.
        stream_event_start=STREAM_START,
        stream_event_rate=14400.0,
        stream_lag_s=600.0,
        stream_late_data=True,
        stream_task_duration_s=1.0,
    )
    return Simulator(SimConfig(cluster=cluster))


def days() -> set[str]:
    def iso(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    return {
        f"{iso(START + timedelta(days=n))}/{iso(START + timedelta(days=n + 1))}"
        for n in range(DAYS)
    }


@contextlib.asynccontextmanager
async def draining(daemon: DaemonProcess) -> AsyncIterator[DaemonProcess]:
    """Keep reading the daemon's output, so a full pipe never stalls it."""

    async def drain() -> None:
        assert daemon.proc is not None
        assert daemon.proc.stdout is not None
        while await daemon.proc.stdout.readline():
            pass

    task = asyncio.create_task(drain())
    try:
        yield daemon
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def jobs(http: aiohttp.ClientSession, api: str) -> list[dict[str, Any]]:
    body = await get(http, f"{api}/v1/jobs?all=1&limit=1000")
    rows: list[dict[str, Any]] = body["jobs"] if isinstance(body, dict) else body
    return rows


async def test_stream_backfill_and_compaction_share_a_datasource_without_overlap(
    tmp_path: Path,
) -> None:
    template = tmp_path / "clicks.toml"
    template.write_text(TEMPLATE)
    sim = hybrid_simulator()
    async with running(sim) as overlord, aiohttp.ClientSession() as http:
        config = tmp_path / "orch.toml"
        text = fast_config(overlord, tmp_path / "events.db").replace('"debug"', '"warning"')
        config.write_text(text)
        daemon = await DaemonProcess(config).start()
        api = daemon.url
        held_reasons: set[str] = set()
        async with draining(daemon):
            applied = await cli("supervisor", "apply", str(template), "--api", api)
            assert applied.code == 0, applied.err
            assert "clicks" in sim.supervisors.supervisors
            interval = f"{START.date()}/{END.date()}"
            submitted = await cli("submit", str(template), "--interval", interval, "--api", api)
            assert submitted.code == 0, submitted.err

            # Some days are the stream's: their jobs wait, and say why.
            async with asyncio.timeout(30):
                while not held_reasons:
                    for job in await jobs(http, api):
                        if job.get("held") and "streaming watermark" in job["held"]:
                            held_reasons.add(job["held"])
                    await asyncio.sleep(0.1)
            daemon.signal(signal.SIGKILL)
            await daemon.proc.wait()  # type: ignore[union-attr]

        restarted = await DaemonProcess(config).start()
        api = restarted.url
        async with draining(restarted):
            compacted = await cli(
                "compact",
                "clicks",
                "--interval",
                interval,
                "--template",
                str(template),
                "--api",
                api,
            )
            assert compacted.code == 0, compacted.err
            async with asyncio.timeout(120):
                while True:
                    rows = await jobs(http, api)
                    for job in rows:
                        if job.get("held") and "streaming watermark" in job["held"]:
                            held_reasons.add(job["held"])
                    done = [j for j in rows if j["phase"] == "succeeded"]
                    if len(done) == 2 * DAYS:
                        break
                    assert not [j for j in rows if j["phase"] in ("dead", "cancelled")], rows
                    await asyncio.sleep(0.2)
            stats = await get(http, f"{overlord}/sim/stats")
            served = set(sim.cluster.served["clicks"])
            restarted.signal(signal.SIGTERM)
            assert await restarted.proc.wait() == 0  # type: ignore[union-attr]

    assert stats["batch_stream_overlaps"] == 0, stats["batch_stream_overlap_tasks"]
    assert stats["supervisor_restarts"] == 0
    assert stats["supervisor_resets"] == 0
    assert stats["duplicate_submissions"] == 0
    assert stats["supervisors"] == 1
    # Every day of the range is served, as one daily segment set (batch replaced what the
    # stream handed off; nothing covers a day twice).
    assert days() <= served
    assert all(reason.startswith("waiting for the streaming watermark") for reason in held_reasons)
