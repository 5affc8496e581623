"""Telemetry beyond `/metrics`: OpenTelemetry traces (`service.telemetry.tracing`, the `otel`
extra), imported only when `[tracing] enabled = true`. This package itself holds only the
configuration section, so reading a configuration loads nothing of tracing."""

from __future__ import annotations

import msgspec

__all__ = ["TracingSection"]


class TracingSection(msgspec.Struct, frozen=True, kw_only=True):
    """`[tracing]` of the daemon's configuration."""

    enabled: bool = False
    # The OTLP/HTTP traces URL (http://collector:4318/v1/traces); None: the exporter's
    # default, or the OTEL_EXPORTER_OTLP_* environment.
    endpoint: str | None = None
    service_name: str = "druid-orch"
