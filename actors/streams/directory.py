"""The Overlord's supervisors, as one shared and cached `GET /supervisor?state=true`.

The health watcher and the watermark gate both need to know which supervisors exist, in what
state, and which datasource each writes. One bulk call answers all of them for every managed
and unmanaged supervisor at once (REFERENCE §9.1), so they share it: at most one request is
in flight, and an answer younger than `max_age_s` is reused.

Druid 38+ puts `dataSource` in each row; for an older Overlord the datasource of a supervisor
is read once from its spec (`GET /supervisor/{id}`) and remembered, since a supervisor's
datasource never changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from actors.ports import Clock, StreamingOverlord
from overlord.models import SupervisorState

__all__ = ["SupervisorDirectory"]


class SupervisorDirectory:
    def __init__(
        self, overlord: StreamingOverlord, clock: Clock, *, max_age_s: float = 5.0
    ) -> None:
        self.overlord = overlord
        self.clock = clock
        self.max_age_s = max_age_s
        self.fetched_at: float | None = None
        self._rows: dict[str, SupervisorState] = {}
        self._datasources: dict[str, str] = {}
        self._inflight: asyncio.Future[dict[str, SupervisorState]] | None = None

    async def states(self, *, max_age_s: float | None = None) -> Mapping[str, SupervisorState]:
        """Every supervisor the Overlord lists, by id.

        Raises:
            OverlordError: the list could not be read (the caller decides what that means:
                the gate holds jobs, the watcher tries again).
        """
        limit = self.max_age_s if max_age_s is None else max_age_s
        fetched = self.fetched_at
        if fetched is not None and self.clock() - fetched < limit:
            return self._rows
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        future: asyncio.Future[dict[str, SupervisorState]] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight = future
        try:
            rows = await self.overlord.supervisor_states()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: a waiter may not exist
            raise
        finally:
            self._inflight = None
        self._rows = {row.id: row for row in rows}
        for row in rows:
            if row.data_source:
                self._datasources[row.id] = row.data_source
        self.fetched_at = self.clock()
        future.set_result(self._rows)
        return self._rows

    def cached(self) -> Mapping[str, SupervisorState]:
        """The last answer, however old (empty before the first)."""
        return self._rows

    async def writing(self, datasource: str, *, max_age_s: float | None = None) -> list[str]:
        """The ids of the listed supervisors that write `datasource`, sorted.

        Raises:
            OverlordError: the list, or a spec needed to learn a datasource, could not be read.
        """
        rows = await self.states(max_age_s=max_age_s)
        found: list[str] = []
        for supervisor_id in sorted(rows):
            known = self._datasources.get(supervisor_id)
            if known is None:
                spec = await self.overlord.supervisor_spec(supervisor_id)
                known = _datasource_of(spec)
                if known is not None:
                    self._datasources[supervisor_id] = known
            if known == datasource:
                found.append(supervisor_id)
        return found

    def remember(self, supervisor_id: str, datasource: str) -> None:
        """What a managed supervisor writes, known from its spec (spares a GET)."""
        self._datasources[supervisor_id] = datasource


def _datasource_of(spec: Mapping[str, Any]) -> str | None:
    for holder in (spec.get("spec"), spec):
        if isinstance(holder, Mapping):
            schema = holder.get("dataSchema")
            if isinstance(schema, Mapping) and isinstance(schema.get("dataSource"), str):
                name: str = schema["dataSource"]
                return name
    return None
