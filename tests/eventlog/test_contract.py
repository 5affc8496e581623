"""The SQLite backend keeps the contract the actors and the service are typed with."""

from __future__ import annotations

import importlib
from pathlib import Path

import eventlog
from eventlog import EventLog
from eventlog.sqlite import SQLiteEventLog


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
