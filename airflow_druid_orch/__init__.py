"""An Apache Airflow provider for druid-orchestrator: `pip install 'druid-orchestrator[airflow]'`.

`airflow_druid_orch.operators.DruidOrchOperator` replaces `DruidOperator` with one line; the
daemon it talks to is named by an Airflow connection (`airflow_druid_orch.hooks`). Importing
this package loads nothing of Airflow: the operator, trigger and hook modules do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """What Airflow's provider manager reads (the `apache_airflow_provider` entry point)."""
    return {
        "package-name": "druid-orchestrator",
        "name": "Druid Orchestrator",
        "description": "Deferrable Druid ingestion through a druid-orchestrator daemon.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": "druid_orch",
                "hook-class-name": "airflow_druid_orch.hooks.DruidOrchHook",
            }
        ],
    }
