"""Schemathesis against a running daemon, from the API's own OpenAPI document: no request it
generates gets a 5xx or hangs, every answer is one the document lists, and none that is
refused leaves anything in the event log.

The examples per operation are few in `make test` (FUZZ_EXAMPLES, default 8); `make fuzz` runs
many more. The test is synchronous, as schemathesis drives it with `requests`, so the
simulator runs on a loop of its own in a thread and the daemon is a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from actors.job.audit import recorded_events
from overlord.sim.server import serve
from service.http.openapi import openapi_document
from tests.service.processes import ROOT, clean_env, fast_config, simulator

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# No 5xx, and every answer is one the document lists, in its media type and schema.
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


@contextlib.contextmanager
def threaded_simulator() -> Iterator[str]:
    """The Overlord simulator on a loop in its own thread; yields its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="simulator", daemon=True)
    thread.start()
    started: Future[Any] = asyncio.run_coroutine_threadsafe(
        serve(simulator(), "127.0.0.1", 0), loop
    )
    runner = started.result(timeout=10)
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextlib.contextmanager
def daemon_process(config: Path) -> Iterator[str]:
    """`druid-orch run` until it prints ready; yields the API's URL, stops it with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "run", "--config", str(config)],
        cwd=ROOT,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = ""
    try:
        for line in proc.stdout:
            if "control API listening on " in line:
                url = line.rsplit(" ", 1)[-1].strip()
            if line.strip() == "druid-orch: ready":
                break
        assert url, "the daemon did not start"
        yield url
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
        proc.stdout.close()
    assert code == 0


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("fuzz")
    db = home / "orch.db"
    with threaded_simulator() as overlord:
        config = home / "orch.toml"
        config.write_text(fast_config(overlord, db))
        with daemon_process(config) as url:
            yield url, db


# The document as the code builds it (the daemon serves the same one: test_openapi.py).
# Loaded at collection, as schemathesis's fixture-based loader does not run on pytest 9.
schema = schemathesis.openapi.from_dict(openapi_document())


def recorded(db: Path) -> list[tuple[str, int]]:
    return [(r.stream_id, r.version) for r in recorded_events(db)]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error_and_a_refused_one_records_nothing(
    case: Any, target: tuple[str, Path]
) -> None:
    url, db = target
    before = recorded(db)
    # Say JSON on every POST, with a body or without, so requests reach the routes (the
    # guard's 415 is tested on its own).
    headers = {"Content-Type": "application/json"} if case.method == "POST" else {}
    if case.path == "/v1/changes" and isinstance(case.query, dict) and "wait" in case.query:
        case.query["wait"] = 0  # a long poll holds the request by design (up to a minute)
    response = case.call(base_url=url, headers=headers, timeout=10)
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        # Nothing else runs in this daemon (no job is ever accepted: a generated template or
        # spec is never valid), so any event would be the refused request's.
        assert recorded(db) == before, f"{case.method} {case.path} was refused but recorded"
