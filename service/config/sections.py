"""The configuration's sections, one struct per TOML table, and `Config` that holds them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from actors.settings import OrchestratorConfig
from actors.supervision.alerts import display_webhook
from overlord.urls import display_url
from service.config.secret import MASK, Secret, mask_secret
from service.limits import LimitsSection
from service.retention import RetentionSection
from service.telemetry import TracingSection

# The keys holding Overlord URLs, which may carry a password as user info.
OVERLORD_URLS = ("url", "coordinator_url")


class OverlordSection(msgspec.Struct, frozen=True, kw_only=True):
    url: str = "http://127.0.0.1:8090"
    coordinator_url: str | None = None
    user: str | None = None
    password: Secret | None = None
    password_file: str | None = None
    token: Secret | None = None
    token_file: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    # Mutual TLS: a PEM client certificate, and its key when the certificate file lacks it.
    client_cert: str | None = None
    client_key: str | None = None
    # Hosts a standby Overlord may redirect us (and our credentials) to; the URL's host always.
    leader_hosts: list[str] = []
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Druid's web console (`https://router:8888/unified-console.html`): the daemon's console
    # links task ids there. Shown to every page reader, so it may not carry credentials.
    console_url: str | None = None


class EventLogSection(msgspec.Struct, frozen=True, kw_only=True):
    db: str = "orch.db"
    retention: RetentionSection = RetentionSection()
    url: str | None = None  # docs/ha.md: the log in PostgreSQL, shared by replicas
    password: Secret | None = None
    password_file: str | None = None
    lease_s: Annotated[float, msgspec.Meta(ge=1, le=600)] = 10.0
    # A standby folds the live jobs as the leader records them, so taking over replays a
    # short tail; off, it holds no job state (less memory) and a takeover folds every stream.
    warm_standby: bool = True


class ApiSection(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8642
    token: Secret | None = None
    token_file: str | None = None
    # A Unix socket (created mode 0600) for local tools, served beside host:port.
    unix_socket: str | None = None
    advertise_url: str | None = None  # where standbys send clients to this leader (docs/ha.md)


class LoggingSection(msgspec.Struct, frozen=True, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class AlertsSection(msgspec.Struct, frozen=True, kw_only=True):
    webhook_url: str | None = None
    webhook_token: Secret | None = None
    webhook_token_file: str | None = None
    webhook_headers: dict[str, str] = {}


class DaemonSection(msgspec.Struct, frozen=True, kw_only=True):
    # After the first SIGTERM/SIGINT, exit anyway once this much time has passed.
    shutdown_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


class Config(msgspec.Struct, frozen=True, kw_only=True):
    overlord: OverlordSection = OverlordSection()
    eventlog: EventLogSection = EventLogSection()
    api: ApiSection = ApiSection()
    logging: LoggingSection = LoggingSection()
    alerts: AlertsSection = AlertsSection()
    daemon: DaemonSection = DaemonSection()
    limits: LimitsSection = LimitsSection()
    orchestrator: OrchestratorConfig = OrchestratorConfig()
    tracing: TracingSection = TracingSection()  # the otel extra; off by default

    def dump(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked (user info in the
        Overlord URLs too, and the webhook's path and extra headers)."""
        result: dict[str, Any] = msgspec.to_builtins(self, enc_hook=mask_secret)
        overlord = result["overlord"]
        for key in OVERLORD_URLS:
            if overlord[key] is not None:
                overlord[key] = display_url(overlord[key])
        alerts = result["alerts"]
        if alerts["webhook_url"] is not None:
            alerts["webhook_url"] = display_webhook(alerts["webhook_url"])
        # Extra headers are where a webhook's own credentials go (an API key header).
        alerts["webhook_headers"] = dict.fromkeys(alerts["webhook_headers"], MASK)
        return result
