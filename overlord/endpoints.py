"""Every Overlord and Coordinator path, named and built in one place.

The client builds its URLs from this table and the simulator registers its routes from it, so
the two cannot drift apart. The names are also what the client puts in `OverlordError.endpoint`,
what the simulator counts in `/sim/stats` and what fault injection keys its rates on.

`produces` is the one media type Druid's resource method declares (`@Produces`): the client
sends it as `Accept`, and the simulator answers 406 to a request whose `Accept` excludes it,
as Druid's JAX-RS does (REFERENCE.md §4.7: the task log is `text/plain`, the rest JSON).

`idempotent` says whether sending the request twice is harmless, so that the client may retry
it after a failure that may have happened once the request had reached the server. `POST /task`
is the one that matters: a second copy would be a duplicate submission (REFERENCE.md §3.2).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

import msgspec

INDEXER = "/druid/indexer/v1"
COORDINATOR = "/druid/coordinator/v1"

Base = Literal["overlord", "coordinator"]
JSON = "application/json"
TEXT = "text/plain"


class Endpoint(msgspec.Struct, frozen=True):
    name: str
    method: Literal["GET", "POST"]
    template: str  # aiohttp route syntax: `{task_id}` is one path segment
    idempotent: bool = True
    base: Base = "overlord"
    follows_leader: bool = True  # False: answered locally by any node, never redirected
    produces: str = JSON

    def path(self, **segments: str) -> str:
        """The path with each `{name}` replaced by its percent-encoded value."""
        return self.template.format(**{k: quote(v, safe="") for k, v in segments.items()})


def _ep(
    name: str,
    method: Literal["GET", "POST"],
    template: str,
    *,
    idempotent: bool = True,
    base: Base = "overlord",
    follows_leader: bool = True,
    produces: str = JSON,
) -> Endpoint:
    return Endpoint(name, method, template, idempotent, base, follows_leader, produces)


_I = INDEXER
_TASK = f"{_I}/task/{{task_id}}"
_SUP = f"{_I}/supervisor/{{supervisor_id}}"

SUBMIT = _ep("submit", "POST", f"{_I}/task", idempotent=False)
STATUS = _ep("status", "GET", f"{_TASK}/status")
BULK_STATUS = _ep("bulk_status", "POST", f"{_I}/taskStatus")
TASKS = _ep("tasks", "GET", f"{_I}/tasks")
WAITING_TASKS = _ep("waiting_tasks", "GET", f"{_I}/waitingTasks")
PENDING_TASKS = _ep("pending_tasks", "GET", f"{_I}/pendingTasks")
RUNNING_TASKS = _ep("running_tasks", "GET", f"{_I}/runningTasks")
COMPLETE_TASKS = _ep("complete_tasks", "GET", f"{_I}/completeTasks")
TASK_SPEC = _ep("task_spec", "GET", _TASK)
REPORTS = _ep("reports", "GET", f"{_TASK}/reports")
LOG = _ep("log", "GET", f"{_TASK}/log", produces=TEXT)
TASK_SEGMENTS = _ep("task_segments", "GET", f"{_TASK}/segments")
# A shutdown that is repeated finds the task finished and answers 200 again: harmless.
SHUTDOWN = _ep("shutdown", "POST", f"{_TASK}/shutdown")
# Repeated, it finds nothing active and answers 404, which would hide that the first worked.
SHUTDOWN_ALL = _ep(
    "shutdown_all", "POST", f"{_I}/datasources/{{datasource}}/shutdownAllTasks", idempotent=False
)
WORKERS = _ep("workers", "GET", f"{_I}/workers")
TOTAL_CAPACITY = _ep("total_capacity", "GET", f"{_I}/totalWorkerCapacity")
WORKER_CONFIG = _ep("worker_config", "GET", f"{_I}/worker")
LOCKED_INTERVALS = _ep("locked_intervals", "POST", f"{_I}/lockedIntervals/v2")
ACTIVE_LOCKS = _ep("active_locks", "POST", f"{_I}/activeLocks")
LEADER = _ep("leader", "GET", f"{_I}/leader", follows_leader=False)
IS_LEADER = _ep("is_leader", "GET", f"{_I}/isLeader", follows_leader=False)
HEALTH = _ep("health", "GET", "/status/health", follows_leader=False)
SELF_DISCOVERED = _ep(
    "self_discovered", "GET", "/status/selfDiscovered/status", follows_leader=False
)
SUPERVISORS = _ep("supervisors", "GET", f"{_I}/supervisor")
# Posting a spec is an upsert: the same spec twice leaves one supervisor.
SUPERVISOR_CREATE = _ep("supervisor_create", "POST", f"{_I}/supervisor")
SUPERVISOR_SPEC = _ep("supervisor_spec", "GET", _SUP)
SUPERVISOR_STATUS = _ep("supervisor_status", "GET", f"{_SUP}/status")
SUPERVISOR_HEALTH = _ep("supervisor_health", "GET", f"{_SUP}/health")
SUPERVISOR_STATS = _ep("supervisor_stats", "GET", f"{_SUP}/stats")
# Repeated, these answer 400 "already suspended/running" or 404: not retried blindly.
SUPERVISOR_SUSPEND = _ep("supervisor_suspend", "POST", f"{_SUP}/suspend", idempotent=False)
SUPERVISOR_RESUME = _ep("supervisor_resume", "POST", f"{_SUP}/resume", idempotent=False)
SUPERVISOR_TERMINATE = _ep("supervisor_terminate", "POST", f"{_SUP}/terminate", idempotent=False)
# A reset moves the stored offsets: never repeated by a retry, since twice is not once.
SUPERVISOR_RESET = _ep("supervisor_reset", "POST", f"{_SUP}/reset", idempotent=False)
SUPERVISOR_SUSPEND_ALL = _ep("supervisor_suspend_all", "POST", f"{_I}/supervisor/suspendAll")
SUPERVISOR_RESUME_ALL = _ep("supervisor_resume_all", "POST", f"{_I}/supervisor/resumeAll")
SUPERVISOR_TERMINATE_ALL = _ep("supervisor_terminate_all", "POST", f"{_I}/supervisor/terminateAll")
COVERAGE = _ep("coverage", "GET", f"{COORDINATOR}/datasources/{{datasource}}", base="coordinator")
COVERAGE_INTERVALS = _ep(
    "coverage_intervals",
    "GET",
    f"{COORDINATOR}/datasources/{{datasource}}/intervals",
    base="coordinator",
)

ALL: tuple[Endpoint, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Endpoint))
BY_NAME: dict[str, Endpoint] = {e.name: e for e in ALL}
LOCAL_PATHS: frozenset[str] = frozenset(e.template for e in ALL if not e.follows_leader)
