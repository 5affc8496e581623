"""Schema migrations of the database file, keyed by `PRAGMA user_version`.

Each step takes the file from version N to N+1 inside one transaction. A file written by a
newer druid-orchestrator is refused in `EventLog._prepare_writer` before we get here.
"""

from __future__ import annotations

import aiosqlite

# version N -> SQL that upgrades a file from N to N+1
_STEPS: dict[int, str] = {}


async def migrate(conn: aiosqlite.Connection, current: int, target: int) -> None:
    for version in range(current, target):
        script = _STEPS[version]
        await conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {version + 1}; COMMIT;")
