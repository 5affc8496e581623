"""What the two probes say: one line each, no token, nothing a stranger should read.

`/healthz` is liveness (can the process still record?), `/readyz` readiness (is boot
reconciliation done, and is this replica the one taking work?). Causes that name URLs, jobs
or errors stay behind the token (`/v1/datasources`, `/v1/reconcile/last`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.orchestrator import Orchestrator
    from service.ha.standby_reads import Replication

Answer = tuple[dict[str, Any], int]


def health(orch: Orchestrator | None) -> Answer:
    # A log that no longer takes writes leaves the daemon unable to record anything: a
    # liveness probe should restart it (boot replays the log and reconciles).
    failure = orch.log_health().failure if orch is not None else None
    if failure is not None:
        return {"status": "failing", "reason": str(failure)}, 503
    return {"status": "ok"}, 200


def readiness(orch: Orchestrator | None, *, draining: bool, ha: Replication | None) -> Answer:
    if draining:
        return {"ready": False, "reason": "shutting down"}, 503
    if ha is not None and ha.role == "standby":
        return ha.readiness(), 200
    if orch is None:
        return {"ready": False, "reason": "boot reconciliation in progress"}, 503
    refused = orch.log_health().refused
    if refused is not None:
        # Live (healthz stays 200: a restart frees no disk), but not taking work.
        reason = f"the event log has refused writes since {refused.since}: {refused.reason}"
        return {"ready": False, "reason": reason}, 503
    reasons = []
    if orch.breakers.overlord_health()["reachable"] is False:
        reasons.append("the Overlord is unreachable; see GET /v1/datasources")
    report = orch.last_reconcile
    if report is not None and report.error is not None:
        reasons.append("the last reconciliation failed; see GET /v1/reconcile/last")
    found: dict[str, Any] = {"ready": True}
    if reasons:
        found["reason"] = "; ".join(reasons)
    if ha is not None:
        found["role"] = ha.role
    return found, 200
