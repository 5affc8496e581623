"""The other side of the lifecycle benchmark: Druid driven the usual way, as Airflow does it.

    python -m bench.baseline_hook --workload W.json --overlord URL --out R.json

`DruidHookLike.submit_indexing_job` behaves as `DruidHook.submit_indexing_job` of
apache-airflow-providers-apache-druid does (read from the provider's source):

* `requests.post(url, data=<spec JSON text>)` with module-level `requests` calls, so every
  request opens a fresh session and TCP connection (no keep-alive between requests);
* then, until a terminal status: `requests.get(<url>/<task id>/status)`, `time.sleep(timeout)`
  (1 s by default, at least 1 s), and only then the status is looked at: SUCCESS returns,
  FAILED raises;
* at WARNING level its per-poll INFO lines cost nothing, as the orchestrator's do here.

Each job runs on its own blocking thread (what a worker slot does with DruidOperator; Airflow
in fact runs each task instance in its own process, which costs more). A failed attempt is
retried like an Airflow task with `retries = max_attempts - 1` and a fixed `retry_delay`;
DruidHook cannot tell a transient failure from a structural one, so both are retried.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import requests

from bench.measure import Window
from bench.workload import Workload

SAMPLE_S = 0.1
log = logging.getLogger("bench.baseline")


class StopRequestedError(Exception):
    """SIGTERM from the driver: its time budget ran out; report what was measured so far."""


def _stop_requested(_signum: int, _frame: object) -> None:
    raise StopRequestedError


class HookFailedError(Exception):
    """The task ended FAILED (DruidHook raises AirflowException)."""


class DruidHookLike:
    """DruidHook's ingestion path, without Airflow's connection lookup."""

    def __init__(self, overlord: str, *, timeout: float = 1.0) -> None:
        self.url = f"{overlord.rstrip('/')}/druid/indexer/v1/task"
        self.header = {"content-type": "application/json"}
        self.timeout = timeout
        self.task_id: str | None = None

    def submit_indexing_job(self, json_index_spec: str) -> None:
        """Submit, then poll every `timeout` seconds until SUCCESS (returns) or FAILED (raises)."""
        log.info("Druid ingestion spec: %s", json_index_spec)
        req_index = requests.post(self.url, data=json_index_spec, headers=self.header, timeout=30)
        if not 200 <= req_index.status_code < 300:
            raise HookFailedError(f"Did not get 200 or 202 when submitting to {self.url}")
        self.task_id = druid_task_id = req_index.json()["task"]
        status_url = f"{self.url}/{druid_task_id}/status"
        log.info("Druid indexing task-id: %s", druid_task_id)
        sec = 0.0
        while True:
            req_status = requests.get(status_url, timeout=30)
            log.info("Job still running for %s seconds...", sec)
            time.sleep(self.timeout)  # DruidHook sleeps before it looks at the answer
            sec += self.timeout
            status = req_status.json()["status"]["status"]
            if status == "SUCCESS":
                break
            if status == "FAILED":
                raise HookFailedError("Druid indexing job failed, check console for more info")
            if status != "RUNNING":
                raise HookFailedError(f"Could not get status of the job, got {status}")
        log.info("Successful index")


@dataclass(slots=True)
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (task id, when the caller learnt the terminal status, the status)
    records: list[tuple[str, float, str]] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def run_job(
    job_id: str,
    spec: dict[str, Any],
    *,
    overlord: str,
    attempts: int,
    poll_s: float,
    retry_delay_s: float,
    tally: Tally,
) -> str:
    """One Airflow task instance with retries: returns "succeeded" or "failed"."""
    for attempt in range(1, attempts + 1):
        hook = DruidHookLike(overlord, timeout=poll_s)
        try:
            hook.submit_indexing_job(json.dumps(spec))
        except HookFailedError:
            if hook.task_id is not None:
                with tally.lock:
                    tally.records.append((hook.task_id, time.time(), "FAILED"))
        except requests.RequestException as exc:
            with tally.lock:
                tally.errors[type(exc).__name__] += 1
        else:
            assert hook.task_id is not None
            with tally.lock:
                tally.records.append((hook.task_id, time.time(), "SUCCESS"))
            return "succeeded"
        if attempt < attempts:
            time.sleep(retry_delay_s)
    return "failed"


def run(workload: Workload, overlord: str, *, concurrency: int) -> dict[str, Any]:
    jobs = workload.compiled()
    tally = Tally()
    window = Window()
    slots = threading.Semaphore(concurrency)
    finished = threading.Event()
    done = 0
    expected = len(jobs)  # lowered if threads run out
    thread_error: str | None = None

    def worker(index: int) -> None:
        nonlocal done
        job = jobs[index]
        try:
            outcome = run_job(
                job.job_id,
                job.spec,
                overlord=overlord,
                attempts=job.max_attempts,
                poll_s=workload.poll_s,
                retry_delay_s=workload.retry_delay_s,
                tally=tally,
            )
        except Exception as exc:  # a crashed Airflow task: count it, keep the others going
            outcome = "crashed"
            with tally.lock:
                tally.errors[type(exc).__name__] += 1
        with tally.lock:
            tally.outcomes[job.job_id] = outcome
            window.live -= 1
            done += 1
            if done == expected:
                finished.set()
        slots.release()

    def sampler() -> None:
        while not finished.is_set():
            due = time.perf_counter() + SAMPLE_S
            finished.wait(SAMPLE_S)
            window.sample(max(0.0, time.perf_counter() - due))

    watcher = threading.Thread(target=sampler, name="sampler", daemon=True)
    window.start()
    watcher.start()
    started = 0
    stopped = False
    submit_done = 0.0
    try:
        for i in range(len(jobs)):
            slots.acquire()
            with tally.lock:
                window.live += 1
            try:
                threading.Thread(target=worker, args=(i,), name=f"job-{i}", daemon=True).start()
            except RuntimeError as exc:  # "can't start new thread": where it falls over
                thread_error = f"thread {i + 1} of {len(jobs)} could not start: {exc}"
                with tally.lock:
                    window.live -= 1
                    expected = started
                    if done == expected:
                        finished.set()
                break
            started += 1
        submit_done = time.time()
        finished.wait()
    except StopRequestedError:
        stopped = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # measuring is over; let the report out
    window.stop()
    finished.set()
    watcher.join(timeout=1)
    with tally.lock:
        ended = done
        records = list(tally.records)
        outcomes = dict(tally.outcomes)
    # Stopped early, per-job figures are per job started: the only lifecycles that ran.
    measured = started if stopped else len(jobs)
    return {
        **window.figures(max(1, measured)),
        "jobs_measured": measured,
        "partial": stopped,
        "jobs_ended": ended,
        "submit_s": round(submit_done - window.started, 3) if submit_done else None,
        "threads_started": started,
        "fell_over": thread_error,
        "client_errors": dict(tally.errors),
        "outcomes": dict(Counter(outcomes.values())),
        "phases": outcomes,
        "records": records,
        "window_start": window.started,
        "window_end": window.ended,
        "rss_samples": window.samples,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True)
    parser.add_argument("--overlord", required=True, help="the simulator's URL")
    parser.add_argument("--out", required=True, help="where to write the measurements (JSON)")
    parser.add_argument("--concurrency", type=int, default=0, help="threads at most; 0: all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    workload = Workload.load(args.workload)
    signal.signal(signal.SIGTERM, _stop_requested)
    result = run(workload, args.overlord, concurrency=args.concurrency or workload.jobs)
    with open(args.out, "wb") as f:
        f.write(msgspec.json.encode(result))
    if result["partial"]:
        # Hundreds of daemon threads may still be mid-request; don't wait for them.
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
