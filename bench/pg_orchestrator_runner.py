"""`bench.orchestrator_runner` with its event log in PostgreSQL: `--db postgresql://…`.

The runner is used as it is; only `Orchestrator.open` is given an opened `PostgresEventLog`
in place of the URL (and the log is closed after), so both backends run the same code.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from actors.orchestrator import Orchestrator
from bench import orchestrator_runner
from eventlog.postgres import PostgresEventLog, is_postgres_url


class _OnPostgres:
    """Stands in for `Orchestrator` in the runner's namespace."""

    @staticmethod
    @contextlib.asynccontextmanager
    async def open(db: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Orchestrator]:
        if not is_postgres_url(db):
            async with Orchestrator.open(db, *args, **kwargs) as orch:
                yield orch
            return
        async with (
            PostgresEventLog(db) as log,
            Orchestrator.open(log, *args, **kwargs) as orch,
        ):
            yield orch


orchestrator_runner.Orchestrator = _OnPostgres  # type: ignore[assignment,misc]

if __name__ == "__main__":
    raise SystemExit(orchestrator_runner.main())
