"""The leader's lease: one row in `leadership`, on the database's clock (docs/ha.md).

A replica takes the lease only when it is free or expired, and every taking raises the
epoch by one (it never goes down), so each leadership has a number no other had. The leader
renews before the lease runs out; a renewal that finds the lease expired or taken fails,
and the leader steps down. The writer checks holder, epoch and expiry in every append's own
transaction (`eventlog.postgres.writer.FENCE`), so a deposed leader's append cannot commit.
All times are the database's (`clock_timestamp()`), so the replicas' clocks need not agree.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from eventlog.postgres.schema import migrate
from eventlog.postgres.urls import redacted
from eventlog.postgres.writer import DRIVER_ERRORS

_ACQUIRE = (
    "UPDATE leadership SET holder = $1, epoch = epoch + 1, "
    "expires_at = clock_timestamp() + make_interval(secs => $2), advertise_url = $3, "
    "acquired_at = clock_timestamp() "
    "WHERE id = 1 AND (holder IS NULL OR expires_at IS NULL OR expires_at <= clock_timestamp()) "
    "RETURNING epoch"
)
_RENEW = (
    "UPDATE leadership SET expires_at = clock_timestamp() + make_interval(secs => $3) "
    "WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp() "
    "RETURNING epoch"
)
# Stepping down on purpose lets a standby take over at once instead of after the lease.
_RELEASE = (
    "UPDATE leadership SET expires_at = clock_timestamp() "
    "WHERE id = 1 AND holder = $1 AND epoch = $2"
)
_LEADER = (
    "SELECT holder, epoch, advertise_url, coalesce(expires_at > clock_timestamp(), false), "
    "extract(epoch FROM expires_at) FROM leadership WHERE id = 1"
)


class Leader(msgspec.Struct, frozen=True):
    """Who holds the lease, under which epoch, where it answers, and whether it is live."""

    holder: str | None
    epoch: int
    advertise_url: str | None
    live: bool
    expires_at: float | None


class Lease:
    """The lease queries, on a connection of their own (never the writer's, so a renewal
    is not queued behind a batch)."""

    def __init__(self, url: str, *, password: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = url
        self._password = password
        self._timeout = timeout_s
        self._conn: Any = None

    async def _c(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.url, password=self._password, timeout=self._timeout
            )
        return self._conn

    async def _value(self, sql: str, *args: Any) -> Any:
        try:
            conn = await self._c()
            return await conn.fetchval(sql, *args, timeout=self._timeout)
        except BaseException:
            await self.close()
            raise

    async def prepare(self) -> None:
        """Create or upgrade the log's schema (the lease's table with it)."""
        try:
            await migrate(await self._c(), redacted(self.url))
        except BaseException:
            await self.close()
            raise

    async def acquire(self, holder: str, lease_s: float, advertise_url: str | None) -> int | None:
        """Take the lease if it is free or expired: the new epoch, or None if it is held."""
        epoch = await self._value(_ACQUIRE, holder, lease_s, advertise_url)
        return int(epoch) if epoch is not None else None

    async def renew(self, holder: str, epoch: int, lease_s: float) -> bool:
        """Extend the lease by `lease_s`; False if it expired or another replica took it."""
        return await self._value(_RENEW, holder, epoch, lease_s) is not None

    async def release(self, holder: str, epoch: int) -> None:
        await self._value(_RELEASE, holder, epoch)

    async def leader(self) -> Leader:
        conn = await self._c()
        try:
            row = await conn.fetchrow(_LEADER, timeout=self._timeout)
        except BaseException:
            await self.close()
            raise
        return Leader(row[0], int(row[1]), row[2], bool(row[3]), row[4] and float(row[4]))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=1)
            except DRIVER_ERRORS:
                conn.terminate()
