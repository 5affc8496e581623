"""Retention run by the leader of an HA deployment, on PostgreSQL, as a user runs it.

A real replica with `[eventlog.retention]` (`keep_days = 0`, a short interval, a folder):
its finished jobs' streams move into archive files, the chain verifies across the gaps and
against the archives, and the jobs are still listed. Without a folder the leader says that
retention is off and why.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from eventlog.postgres import PostgresEventLog
from tests.ha.test_failover import (
    all_terminal,
    db_url,  # noqa: F401  (the fixture)
    free_ports,
    leader_of,
    replica_config,
    stop_all,
    submit_days,
)
from tests.service.processes import DaemonProcess, clean_env, running, simulator

pytestmark = pytest.mark.slow


async def test_the_leader_archives_finished_jobs_on_postgresql(
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    archive = tmp_path / "archive"
    sim = simulator(min_s=0.2, max_s=0.4)
    async with running(sim) as overlord:
        [port] = free_ports(1)
        config = tmp_path / "r.toml"
        config.write_text(
            replica_config(overlord, db_url, port)
            + f'[eventlog.retention]\nkeep_days = 0\ninterval_s = 1.0\ndirectory = "{archive}"\n'
        )
        replica = await DaemonProcess(config, env=clean_env()).start(until="listening")
        try:
            leader = await leader_of([replica], 20)
            ids = await submit_days(leader.url, 1, 6)
            jobs = await all_terminal(leader.url, len(ids), 30)
            assert {j["phase"] for j in jobs} == {"succeeded"}
            for _ in range(75):  # the first pass runs interval_s after ready
                if list(archive.glob("*.jsonl")):
                    break
                await asyncio.sleep(0.2)
            assert list(archive.glob("*.jsonl")), "no archive written"
            # Archived jobs are still listed (the read model keeps their rows).
            assert len(await all_terminal(leader.url, len(ids), 10)) == len(ids)
        finally:
            await stop_all([replica])
    async with PostgresEventLog(db_url) as log:
        chain = await log.verify(archives=True)
        assert chain.ok, chain.broken
        assert chain.archived > 0
        assert chain.checkpoints > 0
        streams = [sid for sid, _version, _closed in await log.all_streams("job:")]
        assert len(streams) == len(ids)
        assert [await log.archived(sid) is not None for sid in streams] == [True] * len(ids)


async def test_without_a_folder_the_leader_says_retention_is_off(
    tmp_path: Path,
    db_url: str,  # noqa: F811
) -> None:
    async with running(simulator()) as overlord:
        [port] = free_ports(1)
        config = tmp_path / "r.toml"
        config.write_text(replica_config(overlord, db_url, port))
        replica = DaemonProcess(config, env=clean_env())
        await replica.start(until="ready (leader")
        try:
            assert replica.proc is not None
            assert replica.proc.stderr is not None
            replica.signal()
            await replica.proc.wait()
            err = (await replica.proc.stderr.read()).decode()
        finally:
            await stop_all([replica])
    assert "retention_disabled" in err
    assert "eventlog.retention.directory is not set" in err
