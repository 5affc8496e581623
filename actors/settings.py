"""What an orchestrator is configured with: every part's policy, in one struct."""

from __future__ import annotations

from typing import Annotated

import msgspec

from actors.job.actor import JobPolicy
from actors.poller import PollerConfig
from actors.reconcile import OrphanPolicy
from actors.streams.health import StreamsConfig
from actors.supervision.breakers import DatasourcePolicy
from actors.supervision.policy import BreakerPolicy, RestartPolicy
from actors.supervision.slots import SlotPolicy
from actors.supervision.watermark_gate import WatermarkPolicy
from eventlog.sqlite.store import Synchronous
from eventlog.sqlite.writer_link import WriterMode


class OrchestratorConfig(msgspec.Struct, frozen=True, kw_only=True):
    poller: PollerConfig = PollerConfig()
    job: JobPolicy = JobPolicy()
    restart: RestartPolicy = RestartPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    datasource_breaker: DatasourcePolicy = DatasourcePolicy()
    # Admission of parallel jobs within the cluster's worker slots (`actors.supervision.slots`).
    slots: SlotPolicy = SlotPolicy()
    # Batch jobs stay behind the streams writing their datasource (`watermark_gate`).
    watermark: WatermarkPolicy = WatermarkPolicy()
    rules_path: str | None = None
    synchronous: Synchronous = "FULL"
    # Where the event log's writer runs: a child process (beside the event loop) or, where
    # starting processes is not allowed, a thread of the orchestrator's own.
    eventlog_writer: WriterMode = "process"
    # Refuse to grow the event log past this size (SQLite's page quota): at the limit,
    # writes fail as on a full disk, before the disk itself fills for everyone on it.
    eventlog_max_size_bytes: Annotated[int, msgspec.Meta(gt=0)] | None = None
    # 0 would leave boot waiting forever for a slot.
    recovery_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 64
    task_id_prefix: str = "orch"
    orphans: OrphanPolicy = "report"
    # 0 has always meant "no periodic reconciliation", like None; below 0 it would spin.
    reconcile_interval_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    client_attempts: Annotated[int, msgspec.Meta(ge=1)] = 2
    # Managed Kafka / Kinesis supervisors: how often their health is read (in bulk).
    streams: StreamsConfig = StreamsConfig()
