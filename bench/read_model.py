"""The read model's costs and bounds, each measured side by side in one run.

    python -m bench.read_model append  [--quick] [--repeat N]   append throughput, with and
                                       without the summary row, alternated
    python -m bench.read_model queries [--quick]   one job, a page of 100 by phase, a year's
                                       coverage: through the API and the file, on a small and
                                       a large log of finished jobs
    python -m bench.read_model memory  [--quick]   the orchestrator's RSS as finished jobs
                                       pile up (the simulator in a process of its own)
    python -m bench.read_model writer  [--quick] [--batch N]   the writer's CPU per append:
                                       events alone, then the row, its indexes, its counts
                                       (schema 4's triggers against the writer's, schema 5)

The same cost end to end, job lifecycles with and without the rows, is `bench.read_model_e2e`.

Each prints a table and, with `--json OUT`, writes the figures. The machine is shared and
noisy: only ratios between runs of the same invocation are meant to be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

from eventlog.events import StatusObserved
from eventlog.sqlite.projection.schema import SCHEMA_4_COUNT_TRIGGERS
from eventlog.summaries import JobSummary
from eventlog.writes.summary_rows import draft

# --- append: the projection's cost -------------------------------------------------------


def _summary(appender: int, n: int) -> JobSummary:
    """A realistic row: a running job, with its phase changing every few appends."""
    return JobSummary(
        job_id=f"orch_wikipedia_2024{appender:08d}_{appender:06x}",
        datasource="wikipedia",
        interval="2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z",
        phase=("submitted", "waiting", "pending", "running")[n % 4],
        terminal=False,
        attempt=1,
        max_attempts=3,
        task_id=f"orch_wikipedia_2024{appender:08d}_{appender:06x}_1",
        accepted_at=1_718_000_000.0,
        version=n + 1,
    )


class _Run(NamedTuple):
    per_s: float  # appends a second
    client_us: float  # CPU of the appending process, per append
    writer_us: float  # CPU of the writer process, per append


async def _appends(path: Path, appenders: int, total: int, with_summary: bool) -> _Run:
    from bench.append_throughput import make_event
    from bench.measure import helpers_cpu_seconds
    from eventlog.sqlite.store import SQLiteEventLog

    rounds = max(1, total // appenders)
    async with SQLiteEventLog(path, synchronous="FULL") as log:
        made: list[list[tuple[StatusObserved, JobSummary | None]]] = [
            [(make_event(i, n), _summary(i, n) if with_summary else None) for n in range(rounds)]
            for i in range(appenders)
        ]

        async def appender(index: int) -> None:
            stream = f"job:bench-{index:06d}"
            for version, (event, summary) in enumerate(made[index]):
                await log.append(stream, [event], expected_version=version, summary=summary)

        writer = log.writer_pid
        writer_cpu = helpers_cpu_seconds([writer]) if writer is not None else 0.0
        client_cpu = time.process_time()
        started = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for index in range(appenders):
                tg.create_task(appender(index))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        writer_cpu = (helpers_cpu_seconds([writer]) - writer_cpu) if writer is not None else 0.0
    done = appenders * rounds
    return _Run(done / elapsed, 1e6 * client_cpu / done, 1e6 * writer_cpu / done)


def bench_append(quick: bool, repeat: int) -> dict[str, Any]:
    plan = {100: 2_000, 1_000: 5_000} if quick else {100: 20_000, 1_000: 50_000}
    results: dict[str, Any] = {}
    for appenders, total in plan.items():
        runs: dict[bool, list[_Run]] = {False: [], True: []}
        for _ in range(repeat):
            # Alternated, seconds apart, so the machine's load hits both sides alike.
            for flag in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    gc.collect()
                    runs[flag].append(
                        asyncio.run(_appends(Path(tmp) / "e.db", appenders, total, flag))
                    )
        without, with_rows = ([r.per_s for r in runs[f]] for f in (False, True))
        ratios = [w / o for w, o in zip(with_rows, without, strict=True)]

        def cpu(flag: bool, side: str, runs: dict[bool, list[_Run]] = runs) -> float:
            return statistics.median(getattr(r, side) for r in runs[flag])

        results[str(appenders)] = {
            "without_per_s": statistics.median(without),
            "with_per_s": statistics.median(with_rows),
            "ratio_median": statistics.median(ratios),
            "ratios": ratios,
            # Where the time goes: the writer process bounds throughput when its CPU per
            # append comes near the wall time per append.
            "cpu_us_per_append": {
                side: {"without": cpu(False, side), "with": cpu(True, side)}
                for side in ("client_us", "writer_us")
            },
        }
        print(
            f"{appenders:>6} appenders: without {statistics.median(without):8.0f}/s, "
            f"with {statistics.median(with_rows):8.0f}/s, with/without "
            f"{statistics.median(ratios):.3f} (runs {', '.join(f'{r:.2f}' for r in ratios)}); "
            f"CPU per append without / with: writer {cpu(False, 'writer_us'):.1f} / "
            f"{cpu(True, 'writer_us'):.1f} us, appending process {cpu(False, 'client_us'):.1f} / "
            f"{cpu(True, 'client_us'):.1f} us",
            flush=True,
        )
    return results


# --- queries: bounded by the page, not by the log ----------------------------------------

_DATASOURCES = 10


def _job_events(n: int) -> tuple[str, list[Any], Any]:
    """Job `n`'s stream, as the FSM decides it: most succeed, some die, a few are cancelled."""
    from datetime import UTC, datetime, timedelta

    from actors.job.evolve import fold
    from actors.job.fsm import decide
    from actors.job.messages import (
        Accept,
        BeginAttempt,
        Cancel,
        Command,
        Escalate,
        RecordStatus,
        RecordSubmitted,
    )
    from actors.job.state import JobState
    from eventlog.events import spec_raw
    from specs.identity import task_id_for
    from specs.intervals import format_instant

    datasource = f"ds{n % _DATASOURCES}"
    day = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(days=n // _DATASOURCES)
    interval = f"{format_instant(day)}/{format_instant(day + timedelta(days=1))}"
    job_id = f"orch_{datasource}_{day:%Y%m%d}_{n:012x}"
    at = 1_700_000_000.0 + n
    commands: list[Command] = [
        Accept(
            at=at,
            job_id=job_id,
            datasource=datasource,
            interval=interval,
            spec=spec_raw({"type": "index_parallel", "n": n}),
            spec_hash=f"{n:012x}",
            max_attempts=3,
        )
    ]
    task = task_id_for(job_id, 1)
    if n % 50 == 7:
        commands.append(Escalate(at=at + 1, reason="bench: died"))
    elif n % 100 == 3:
        commands.append(Cancel(at=at + 1))
    else:
        commands += [
            BeginAttempt(at=at + 1),
            RecordSubmitted(at=at + 2, task_id=task),
            *(
                RecordStatus(at=at + 3 + i, task_id=task, status="RUNNING", runner_status=r)
                for i, r in enumerate(("WAITING", "PENDING", "RUNNING"))
            ),
            RecordStatus(at=at + 6, task_id=task, status="SUCCESS", duration_ms=1000),
        ]
    state = JobState()
    events: list[Any] = []
    for command in commands:
        new = decide(state, command)
        state = fold(new, state)
        events += new
    return job_id, events, state


def build_log(path: Path, jobs: int) -> int:
    """A log of `jobs` finished jobs, written through the writer with their summaries."""
    from actors.job.summary import summary_of
    from eventlog.events import encode_event
    from eventlog.sqlite.writer import WriteConnection
    from eventlog.writes.items import AppendItem

    writer = WriteConnection(str(path), "OFF")
    writer.open()
    events = 0
    batch: list[Any] = []
    for n in range(jobs):
        job_id, made, state = _job_events(n)
        encoded = [(str(type(e).__struct_config__.tag), encode_event(e)) for e in made]
        events += len(encoded)
        row = draft(summary_of(state))
        batch.append(AppendItem(f"job:{job_id}", 0, True, encoded, summary=row))
        if len(batch) == 500 or n == jobs - 1:
            writer.commit(batch, 1_700_000_000.0 + n)
            batch = []
    writer.close()
    return events


async def _timed(call: Callable[[], Awaitable[Any]], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


async def _measure_queries(path: Path, jobs: int, times: int) -> dict[str, float]:
    import aiohttp
    from aiohttp.test_utils import TestServer

    from actors.orchestrator import Orchestrator
    from bench.read_model_sim import idle_simulator
    from eventlog.sqlite.offline import OfflineLog
    from eventlog.summaries import SummaryQuery
    from service.api import ControlApi
    from service.metrics import Metrics

    one_job = _job_events(jobs // 2)[0]
    year = ("1990-03-01T00:00:00.000Z", "1991-03-01T00:00:00.000Z")  # in both logs

    def offline(ask: Callable[[OfflineLog], Any]) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            with OfflineLog.open(path) as log:  # what `--db` does: open, ask, close
                return ask(log)

        return call

    figures = {
        "db_one_job_ms": await _timed(offline(lambda log: log.job_summary(one_job)), times),
        "db_page_100_dead_ms": await _timed(
            offline(lambda log: log.job_summaries(SummaryQuery(phases=("dead",), limit=100))),
            times,
        ),
        "db_coverage_year_ms": await _timed(offline(lambda log: log.coverage("ds3", *year)), times),
    }
    async with idle_simulator() as overlord, Orchestrator.open(path, overlord) as orch:
        metrics = Metrics()
        metrics.bind(orch)
        api = ControlApi(metrics=metrics)
        api.serve(orch)
        server = TestServer(api.app())
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        try:
            async with aiohttp.ClientSession() as http:

                def get(route: str) -> Callable[[], Awaitable[Any]]:
                    async def call() -> Any:
                        async with http.get(base + route) as response:
                            assert response.status == 200, await response.text()
                            return await response.read()

                    return call

                figures["api_one_job_ms"] = await _timed(get(f"/v1/jobs/{one_job}"), times)
                figures["api_page_100_dead_ms"] = await _timed(
                    get("/v1/jobs?phase=dead&limit=100"), times
                )
                figures["api_coverage_year_ms"] = await _timed(
                    get(f"/v1/datasources/ds3/coverage?from={year[0]}&to={year[1]}"), times
                )
                figures["api_metrics_ms"] = await _timed(get("/metrics"), times)
        finally:
            await server.close()
    return figures


def bench_queries(quick: bool) -> dict[str, Any]:
    sizes = (2_000, 8_000) if quick else (10_000, 100_000)
    times = 10 if quick else 30
    rounds = 1 if quick else 3
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for jobs in sizes:
            paths[jobs] = Path(tmp) / f"log-{jobs}.db"
            started = time.perf_counter()
            events = build_log(paths[jobs], jobs)
            results[str(jobs)] = {"events": events, "runs": []}
            print(f"built {jobs} jobs ({events} events) in {time.perf_counter() - started:.0f}s")
        # Small and large alternated, so that the machine's load hits both alike.
        for _ in range(rounds):
            for jobs in sizes:
                figures = asyncio.run(_measure_queries(paths[jobs], jobs, times))
                results[str(jobs)]["runs"].append(figures)
    for jobs in sizes:
        runs = results[str(jobs)]["runs"]
        results[str(jobs)].update({k: statistics.median(r[k] for r in runs) for k in runs[0]})
    small, large = (results[str(s)] for s in sizes)
    head = "".join(f"{s:>12}" for s in sizes)
    print(f"{'query (median ms)':<24}{head}   large/small")
    for key in small["runs"][0]:
        print(f"{key:<24}{small[key]:>12.2f}{large[key]:>12.2f}{large[key] / small[key]:>10.2f}x")
    return results


# --- memory: bounded by live jobs ----------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _memory(path: Path, total: int, wave: int, *, retain: bool) -> dict[str, Any]:
    """Run `total` jobs in waves; sample RSS after each. `retain` keeps every job's final
    state in a dict, as the board did before the read model: the baseline."""
    from datetime import UTC, datetime, timedelta

    from actors.orchestrator import Orchestrator
    from actors.settings import OrchestratorConfig
    from actors.supervision.slots import SlotPolicy
    from bench.read_model_sim import simulator_process
    from service.demo import demo_config
    from specs.compiler import builtin_template, compile_job
    from specs.intervals import Interval

    base = demo_config()
    config = OrchestratorConfig(poller=base.poller, job=base.job, slots=SlotPolicy(enabled=False))
    template = builtin_template()
    start = datetime(1900, 1, 1, tzinfo=UTC)
    samples: list[dict[str, Any]] = []
    with simulator_process() as url:
        async with Orchestrator.open(path, url, config=config) as orch:
            retained: dict[str, Any] = {}
            if retain:
                orch.listen(lambda t: retained.__setitem__(t.job_id, t.state))
            for first in range(0, total, wave):
                jobs = [
                    compile_job(
                        template,
                        Interval(start + timedelta(days=n), start + timedelta(days=n + 1)),
                        max_sub_tasks=1,
                    )
                    for n in range(first, min(total, first + wave))
                ]
                for job in jobs:
                    await orch.submit(job)
                await asyncio.gather(*(orch.wait(j.job_id, timeout=600) for j in jobs))
                del jobs
                gc.collect()
                sample = {
                    "finished": min(total, first + wave),
                    "rss_mb": _rss_mb(),
                    "in_memory": len(orch.states) + len(retained),
                }
                samples.append(sample)
                print(
                    f"{sample['finished']:>8} finished: RSS {sample['rss_mb']:7.1f} MB, "
                    f"{sample['in_memory']} states in memory",
                    flush=True,
                )
    return {"samples": samples}


def bench_memory(quick: bool, total: int | None) -> dict[str, Any]:
    total, wave = (4_000, 1_000) if quick else (total or 100_000, 5_000)
    from service import logging_setup

    logging_setup.configure("warning")
    results = {}
    for name, retain in (("read_model", False), ("retaining_baseline", True)):
        print(f"-- {name}", flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(_memory(Path(tmp) / "orch.db", total, wave, retain=retain))
        result["seconds"] = time.perf_counter() - started
        results[name] = _growth(result)
    ours, base = results["read_model"], results["retaining_baseline"]
    print(
        f"growth per 1,000 finished jobs: {ours['growth_per_1000_finished_kb']:.0f} KB with the "
        f"read model, {base['growth_per_1000_finished_kb']:.0f} KB keeping every state"
    )
    return results


def _growth(result: dict[str, Any]) -> dict[str, Any]:
    samples = result["samples"]
    # The first wave warms every cache and pool: the baseline is the RSS once it is done.
    first, last = samples[0], samples[-1]
    result["growth_mb"] = last["rss_mb"] - first["rss_mb"]
    result["growth_per_1000_finished_kb"] = (
        1024 * result["growth_mb"] / max(1, (last["finished"] - first["finished"]) / 1000)
    )
    print(
        f"RSS after {first['finished']} finished: {first['rss_mb']:.1f} MB; after "
        f"{last['finished']}: {last['rss_mb']:.1f} MB "
        f"({result['growth_per_1000_finished_kb']:.1f} KB per 1,000 more finished jobs)"
    )
    return result


# --- writer: where the projection's cost goes ----------------------------------------------

# The count triggers of schema 4, which the writer's own counting replaced in schema 5: kept
# here so that one invocation measures both side by side.
_INDEXES = ("phase", "datasource", "interval", "position")


def _rowid_table() -> str:
    """The table as a rowid table (its secondary indexes then point at an 8-byte rowid, not
    the job id, at the price of one more B-tree: the job id's unique index)."""
    from eventlog.sqlite.projection.schema import TABLE

    ddl = TABLE[: TABLE.index("CREATE TABLE job_phase_counts")]
    return "DROP TABLE job_summaries;" + ddl.replace(") STRICT, WITHOUT ROWID;", ") STRICT;", 1)


class _Variant(NamedTuple):
    summary: bool  # the appends carry a summary row
    sql: str  # run on the fresh file before the appends
    counts: bool  # the writer keeps `job_phase_counts` (schema 5); else a plain upsert
    # A row whose phase stays is written without naming the phase (else as any other row).
    narrow: bool = True


_VARIANTS: dict[str, _Variant] = {
    "events only (no summary)": _Variant(False, "", False),
    "+ row, no index, no count": _Variant(
        True, "".join(f"DROP INDEX job_summaries_{n};" for n in _INDEXES), False
    ),
    "+ row and its 4 indexes": _Variant(True, "", False),
    "+ 4 indexes, count triggers (schema 4)": _Variant(True, SCHEMA_4_COUNT_TRIGGERS, False),
    "+ 4 indexes, writer's counts (schema 5)": _Variant(True, "", True),
    "  the same, phase named in every update": _Variant(True, "", True, narrow=False),
    "  the same without the position index": _Variant(
        True, "DROP INDEX job_summaries_position;", True
    ),
    "  the same as a rowid table": _Variant(True, "@rowid", True),
}
_JOBS = 1000  # the jobs the appends go round, a batch's worth at least


def _plain(conn: Any, rows: Any) -> dict[str, str]:
    from eventlog.sqlite.projection.schema import UPSERT
    from eventlog.sqlite.statements import insert_rows

    insert_rows(conn, UPSERT, rows)
    return {}


def _commit_time(variant: _Variant, appends: int, size: int, phase_every: int = 1) -> float:
    """CPU seconds the writer's `commit` takes for `appends` one-event appends in batches of
    `size`, going round `_JOBS` jobs (every `phase_every`-th append of a job moves it to
    another phase), on a fresh file, as the writer process runs it.

    CPU time, not wall time: on a shared machine the wall time of a commit swings with the
    other processes' load (2x within a minute), while its CPU time is what the projection
    adds to the writer, the process that bounds throughput at 1,000 appenders."""
    from bench.append_throughput import make_event
    from eventlog.events import encode_event
    from eventlog.sqlite import writer as writer_module
    from eventlog.sqlite.writer import WriteConnection
    from eventlog.writes.items import AppendItem

    jobs = max(_JOBS, size)
    versions = [0] * jobs
    made: list[list[AppendItem]] = []
    for b in range(max(1, appends // size)):
        items = []
        for i in range(size):
            job = (b * size + i) % jobs
            n = versions[job]
            versions[job] += 1
            event = encode_event(make_event(job, b))
            summary = draft(_summary(job, n // phase_every)) if variant.summary else None
            items.append(
                AppendItem(f"job:{job}", n, False, [("status_observed", event)], summary=summary)
            )
        made.append(items)
    # Without counts, the writer's upsert is swapped for the plain one for this run.
    from eventlog.sqlite.projection import schema

    names, schema_names = vars(writer_module), vars(schema)
    shipped, narrow = names["upsert_summaries"], schema_names["_UPSERT_SAME_PHASE"]
    if not variant.counts:
        names["upsert_summaries"] = lambda conn, rows, known: _plain(conn, rows)
    if not variant.narrow:
        schema_names["_UPSERT_SAME_PHASE"] = schema.UPSERT
    try:
        with tempfile.TemporaryDirectory() as tmp:
            writer = WriteConnection(str(Path(tmp) / "e.db"), "FULL")
            writer.open()
            assert writer.conn is not None
            if variant.sql:
                sql = _rowid_table() if variant.sql == "@rowid" else variant.sql
                writer.conn.executescript(sql)
            started = time.process_time()
            for b, items in enumerate(made):
                writer.commit(items, 1.0 + b)
            elapsed = time.process_time() - started
            if variant.counts or "TRIGGER" in variant.sql:  # the work measured was right
                from eventlog.sqlite.projection import queries

                counted = queries.counted_phases(writer.conn)
                assert queries.phase_counts(writer.conn) == counted, variant
            writer.close()
    finally:
        names["upsert_summaries"] = shipped
        schema_names["_UPSERT_SAME_PHASE"] = narrow
    return elapsed


def bench_writer(quick: bool, repeat: int, batch: int, phase_every: int = 1) -> dict[str, Any]:
    appends = 1000 if quick else 20_000
    samples: dict[str, list[float]] = {name: [] for name in _VARIANTS}
    for _ in range(repeat):
        for name, variant in _VARIANTS.items():  # alternated
            samples[name].append(_commit_time(variant, appends, batch, phase_every))
    done = max(1, appends // batch) * batch
    base = statistics.median(samples["events only (no summary)"])
    results = {}
    print(
        f"batches of {batch} appends, {done} appends a run, a job's phase changing every "
        f"{phase_every} of its appends, medians of {repeat} runs"
    )
    for name, times in samples.items():
        median = statistics.median(times)
        results[name] = {
            "us_per_append": 1e6 * median / done,
            "vs_events_only": median / base,
            "seconds": times,
        }
        print(f"{name:<44}{1e6 * median / done:7.1f} us/append  {median / base:5.2f}x")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_model", description=__doc__)
    parser.add_argument("what", choices=("append", "queries", "memory", "writer"))
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--repeat", type=int, default=3, help="append: alternated runs")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--jobs", type=int, help="memory: how many jobs (default 100,000)")
    parser.add_argument(
        "--batch", type=int, default=1000, help="writer: appends per commit (default 1,000)"
    )
    parser.add_argument(
        "--phase-every",
        type=int,
        default=1,
        help="writer: a job's phase changes every N of its appends (default 1, the worst case)",
    )
    args = parser.parse_args(argv)
    started = time.time()
    if args.what == "append":
        figures = bench_append(args.quick, args.repeat)
    elif args.what == "writer":
        figures = bench_writer(args.quick, args.repeat, args.batch, args.phase_every)
    elif args.what == "queries":
        figures = bench_queries(args.quick)
    else:
        figures = bench_memory(args.quick, args.jobs)
    if args.json:
        record = {
            "command": " ".join(["python -m bench.read_model", *(argv or sys.argv[1:])]),
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "load_average": os.getloadavg(),
            "figures": figures,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
