"""Where no PostgreSQL answers, the suite starts its own (tests/pg_support.py, pg_cluster.py).

The fallback is driven here as pytest's workers drive it: two callers on one folder get one
cluster (the second reads the first's URL under the lock), it serves databases, and stopping
it leaves no server and no folder behind. `PG_ADMIN_URL` pointed at a closed port runs the
whole PostgreSQL suite on such a cluster.
"""

from __future__ import annotations

import asyncio

import asyncpg

from tests import pg_support


def test_an_unreachable_server_is_replaced_by_one_private_cluster_shared_by_all() -> None:
    pg_support.require_server_binaries()
    folder = pg_support.new_private_dir()
    try:
        first, why = pg_support._start_private(folder, "no PostgreSQL at port 1")
        assert why is None
        again, _ = pg_support._start_private(folder, "no PostgreSQL at port 1")
        assert again == first, "a second worker started a second cluster"
        assert first != pg_support.CONFIGURED_URL
        assert pg_support._answers(first) is None

        async def version() -> str:
            conn = await asyncpg.connect(first)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        assert asyncio.run(version())
    finally:
        pg_support.stop_private(folder)
    assert not folder.exists()
    assert pg_support._answers(first) is not None, "the private server outlived the run"
