"""The simulator echoes specs as Druid does, no more and no less, so the orchestrator is
tested against the secrets a real Overlord hands back.

A stored task (`GET /task/{id}`) goes through Druid's `PasswordProviderRedactionMixIn`: its
`PasswordProvider` fields (http's `httpAuthenticationPassword`, the SQL connector's
`password`, S3's `accessKeyId` / `secretAccessKey`) keep their type only. Plain `String`
fields (Azure's `key` and `sharedAccessStorageToken`, http `requestHeaders`) are served as
given. A supervisor spec (`GET /supervisor/{id}`) is served as stored: `consumerProperties`
is a `Map<String, Object>`, which no mixin touches (apache/druid#6265). The orchestrator
therefore treats every Overlord reply as secret-bearing and records none of it raw.
"""

from __future__ import annotations

from typing import Any

from overlord.client import HttpOverlord
from overlord.sim.server import SimConfig, Simulator
from tests.contract.conftest import fast_cluster
from tests.security.planting import input_source, kafka_with_secrets
from tests.service.processes import running

SECRETS = ["Zk7a000000001", "Zk7b000000002", "Zk7c000000003", "Zk7d000000004"]


def task(task_id: str, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": {
                "dataSource": "wiki",
                "granularitySpec": {"intervals": ["2024-01-01/2024-01-02"]},
            },
            "ioConfig": {
                "type": "index_parallel",
                "inputSource": source,
                "inputFormat": {"type": "json"},
            },
        },
    }


async def test_stored_tasks_mask_password_providers_and_supervisors_come_back_whole() -> None:
    sim = Simulator(SimConfig(cluster=fast_cluster()))
    async with running(sim) as url, HttpOverlord(url) as client:
        for kind in ("http", "sql", "s3"):
            await client.submit(task(f"echo-{kind}", input_source(kind, SECRETS, "provider")))
        http = (await client.task_spec("echo-http"))["spec"]["ioConfig"]["inputSource"]
        assert http["httpAuthenticationPassword"] == {"type": "default"}
        assert http["requestHeaders"]["X-Ingest-Key"] == SECRETS[3]  # a plain String field
        sql = (await client.task_spec("echo-sql"))["spec"]["ioConfig"]["inputSource"]
        assert sql["database"]["connectorConfig"]["password"] == {"type": "default"}
        s3 = (await client.task_spec("echo-s3"))["spec"]["ioConfig"]["inputSource"]
        assert s3["properties"]["accessKeyId"] == {"type": "default"}
        assert s3["properties"]["secretAccessKey"] == {"type": "default"}

        await client.create_supervisor(kafka_with_secrets(SECRETS, "plain"))
        held = await client.supervisor_spec("clicks")
        consumer = held["spec"]["ioConfig"]["consumerProperties"]
        assert consumer["ssl.keystore.password"] == SECRETS[2]
        assert SECRETS[0] in consumer["sasl.jaas.config"]
