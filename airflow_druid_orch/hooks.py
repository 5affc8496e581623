"""The Airflow connection that says where the daemon is and holds its bearer token.

A connection of type `druid_orch` (any type works: only these fields are read):
host (a name, or a whole URL), port, schema (`http` or `https`; `http` unless said), and
password: the daemon's API token (`api.token_file` on the daemon's side). As an environment
variable: `AIRFLOW_CONN_DRUID_ORCH_DEFAULT='druid-orch://:TOKEN@orch.internal:8642'`.
"""

from __future__ import annotations

from typing import Any

from airflow.hooks.base import BaseHook

from airflow_druid_orch.client import DaemonClient

DEFAULT_CONN_ID = "druid_orch_default"
DEFAULT_PORT = 8642  # service/config/sections.py ApiSection.port


class DruidOrchHook(BaseHook):
    """Resolves a connection into the daemon's URL and token."""

    conn_name_attr = "druid_orch_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "druid_orch"
    hook_name = "Druid Orchestrator"

    def __init__(self, druid_orch_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.druid_orch_conn_id = druid_orch_conn_id

    def endpoint(self) -> tuple[str, str | None]:
        """`(base URL, token or None)` of the connection."""
        conn = self.get_connection(self.druid_orch_conn_id)
        host = (conn.host or "127.0.0.1").rstrip("/")
        if "://" in host:
            return host, conn.password or None
        scheme = conn.schema if conn.schema in ("http", "https") else "http"
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{conn.port or DEFAULT_PORT}", conn.password or None

    def get_conn(self) -> DaemonClient:
        url, token = self.endpoint()
        return DaemonClient(url, token)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["login", "extra"],
            "relabeling": {"password": "API token", "schema": "Scheme (http or https)"},
            "placeholders": {"host": "orch.internal", "port": str(DEFAULT_PORT)},
        }
