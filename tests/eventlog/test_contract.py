"""Both backends keep the contract the actors and the service are typed with."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import eventlog
from eventlog import EventLog
from eventlog.postgres import PostgresEventLog
from eventlog.sqlite import SQLiteEventLog
from tests import pg_support


async def test_an_open_sqlite_log_is_an_event_log(tmp_path: Path) -> None:
    async with SQLiteEventLog(tmp_path / "e.db", writer="thread") as log:
        typed: EventLog = log  # the same promise, checked by mypy
        assert isinstance(typed, EventLog)


def test_the_contract_is_not_a_backend() -> None:
    assert eventlog.EventLog is EventLog
    assert not isinstance(object(), EventLog)
    assert not issubclass(EventLog, SQLiteEventLog)


def test_the_sqlite_package_exports_its_log_and_only_that() -> None:
    package = importlib.import_module("eventlog.sqlite")
    assert package.__all__ == ["SQLiteEventLog"]
    assert package.SQLiteEventLog is SQLiteEventLog


# --- the contract suite on both backends ------------------------------------------------
# The behavioural tests of the log written against the `event_log` fixture (SQLite, with
# each kind of writer) run here again, unchanged, on PostgreSQL: one suite for both
# backends, as the eventsourcing library runs one suite over all its recorders.
_SUITES = (
    "tests.eventlog.sqlite.test_store",
    "tests.eventlog.test_snapshots",
    "tests.eventlog.test_summaries",
)


def _contract_cases() -> list[Any]:
    cases = []
    for name in _SUITES:
        module = importlib.import_module(name)
        for attr, fn in sorted(vars(module).items()):
            takes_the_log = inspect.iscoroutinefunction(fn) and list(
                inspect.signature(fn).parameters
            ) == ["event_log"]
            if attr.startswith("test_") and takes_the_log:
                cases.append(pytest.param(fn, id=f"{name.rsplit('.', 1)[1]}::{attr}"))
    return cases


CASES = _contract_cases()

# Tests that open their own log on a file (`SQLiteEventLog(tmp_path / ...)`) and touch nothing
# but the log: run with that name standing for a PostgreSQL log, their assertions unchanged.
OWN_LOG_CASES = [
    "tests.eventlog.test_summaries:test_pages_follow_their_cursor_through_every_job_once_per_filter",
    "tests.eventlog.test_summaries:test_the_change_feed_gives_each_changed_job_once_and_waits_for_the_next",
    "tests.eventlog.test_summaries:test_coverage_finds_the_jobs_overlapping_a_range_by_interval",
]


def test_the_contract_suite_is_not_empty() -> None:
    assert len(CASES) >= 10, [c.id for c in CASES]


@pytest.mark.parametrize("case", CASES)
async def test_the_contract_holds_on_postgres(
    case: Callable[[Any], Awaitable[None]], pg_event_log: PostgresEventLog
) -> None:
    await case(pg_event_log)


@pytest.mark.parametrize("case", OWN_LOG_CASES)
async def test_the_contract_holds_on_postgres_for_tests_opening_their_own_log(
    case: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_name, name = case.split(":")
    module = importlib.import_module(module_name)
    await pg_support.fresh_schema(pg_url)
    monkeypatch.setattr(module, "SQLiteEventLog", lambda *_a, **_k: PostgresEventLog(pg_url))
    await getattr(module, name)(tmp_path)


async def test_an_open_postgres_log_is_an_event_log(pg_event_log: PostgresEventLog) -> None:
    typed: EventLog = pg_event_log
    assert isinstance(typed, EventLog)
