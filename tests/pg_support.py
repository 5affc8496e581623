"""The real PostgreSQL the PostgreSQL tests run against: a database of this run's own.

`PG_ADMIN_URL` (default: the development and CI server, 127.0.0.1:5432, trust auth) is where
databases are created. Each pytest worker creates `orch_test_<pid>_<random>` once and drops
it at the end; each test gets a clean schema in it (`fresh_schema`) or, for daemons, a
database of its own (`scratch_database`).

Where no server answers at `PG_ADMIN_URL` (a laptop), the suite starts a private cluster
from the installed binaries (tests/pg_cluster.py) on a free port, once for the whole run:
the pytest controller names a folder (`ORCH_PG_PRIVATE_DIR`, inherited by the xdist
workers), the first worker to need a server starts it there under a lock file and writes its
URL beside it, the others read that URL, and the controller stops it at the end. Only where
no server answers and none can be started do the tests skip, except with `CI=true`, where
they fail: CI must run them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.pg_cluster import PrivateCluster

CONFIGURED_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PRIVATE_DIR_ENV = "ORCH_PG_PRIVATE_DIR"
_FAILURES = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
_resolved: tuple[str, str | None] | None = None  # (admin URL, why it cannot be used)


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _answers(url: str) -> str | None:
    try:
        asyncio.run(_execute(url, "SELECT 1"))
    except _FAILURES as exc:
        return f"no PostgreSQL at {url} ({exc})"
    return None


def new_private_dir() -> Path:
    """A folder for a private cluster; others (the server's user) may pass through it."""
    folder = Path(tempfile.mkdtemp(prefix="orch-pg-"))
    folder.chmod(0o711)
    return folder


def _start_private(folder: Path, unreachable: str) -> tuple[str, str | None]:
    """Under `folder`'s lock: the URL of the cluster there, started by whoever came first."""
    with (folder / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        url_file, error_file = folder / "admin_url", folder / "error"
        if url_file.exists():
            return url_file.read_text(), None
        if error_file.exists():
            return CONFIGURED_URL, error_file.read_text()
        try:
            cluster = PrivateCluster(folder / "cluster").init().start()
        except (RuntimeError, OSError) as exc:
            why = f"{unreachable}, and no private one could be started: {exc}"
            error_file.write_text(why)
            return CONFIGURED_URL, why
        url_file.write_text(cluster.admin_url)
        return cluster.admin_url, None


def stop_private(folder: Path) -> None:
    """Stop the cluster under `folder`, if one was started, and remove the folder."""
    if (folder / "cluster").exists():
        PrivateCluster(folder / "cluster", port=0).destroy()
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _resolve() -> tuple[str, str | None]:
    global _resolved
    if _resolved is None:
        unreachable = _answers(CONFIGURED_URL)
        if unreachable is None:
            _resolved = (CONFIGURED_URL, None)
        else:
            shared = os.environ.get(PRIVATE_DIR_ENV)
            if shared:  # pytest's controller stops it (tests/conftest.py)
                _resolved = _start_private(Path(shared), unreachable)
            else:  # a script (bench/): a cluster of this process's own
                folder = new_private_dir()
                atexit.register(stop_private, folder)
                _resolved = _start_private(folder, unreachable)
    return _resolved


def admin_url() -> str:
    """Where databases are created: `PG_ADMIN_URL`'s server or, failing that, a private one."""
    return _resolve()[0]


def url_of(database: str) -> str:
    base = admin_url().rsplit("/", 1)[0]
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    await _execute(admin_url(), sql)


def _reachable() -> str | None:
    return _resolve()[1]


def require_server_binaries() -> None:
    """For a test that needs a private cluster (a server it may restart): skip without the
    binaries, except under `CI=true`, where they must be there."""
    from tests.pg_cluster import binaries

    if binaries() is not None:
        return
    why = "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}: the PostgreSQL tests must run in CI")
    pytest.skip(why)


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
    # Resolving may start a private cluster (seconds, blocking): off the event loop.
    await asyncio.to_thread(require_postgres)
    await _admin(f'CREATE DATABASE "{name}"')
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
