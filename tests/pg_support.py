"""The real PostgreSQL the PostgreSQL tests run against: a database of this run's own.

`PG_ADMIN_URL` (default: the development and CI server, 127.0.0.1:5432, trust auth) is where
databases are created. Each pytest worker creates `orch_test_<pid>_<random>` once and drops
it at the end; each test gets a clean schema in it (`fresh_schema`) or, for daemons, a
database of its own (`scratch_database`). Where no server answers, the tests skip, except
with `CI=true`, where they fail: CI must run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def url_of(database: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _reachable() -> str | None:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        return f"no PostgreSQL at {ADMIN_URL} ({exc})"
    return None


def require_postgres() -> None:
    why = _reachable()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}: the PostgreSQL tests must run in CI")
    pytest.skip(why)


def new_name() -> str:
    return f"orch_test_{os.getpid()}_{secrets.token_hex(4)}"


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A new database for as long as the block runs; its URL."""
    require_postgres()
    name = new_name()
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url_of(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def fresh_schema(url: str) -> None:
    """Empty the database at `url` (its public schema), so a log opened on it starts anew."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A new database for one test (daemons, which need one each); dropped after."""
    name = new_name()
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        why = f"no PostgreSQL at {ADMIN_URL} ({exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}: the PostgreSQL tests must run in CI")
        pytest.skip(why)
    try:
        yield url_of(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def tamper(url: str, sql: str) -> int:
    """Run `sql` on the database behind the log's back (an edit the chain must reveal)."""
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute(sql)
    finally:
        await conn.close()
    return int(status.rsplit(" ", 1)[-1])
