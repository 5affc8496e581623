"""Fault injection for the simulator: what can go wrong, and the state that makes it happen.

Faults are set at start (`[faults]` of a scenario file) and at run time (`POST /sim/faults`,
`Simulator.set_faults`). Rates are per endpoint name (`overlord.endpoints`), with `"*"` for
every endpoint. Timed events (`[[faults.events]]`) fire once, `at_s` seconds after the faults
were applied: an Overlord restart (keeping, failing or forgetting its running tasks), a period
with no leader (503 HTML, as a standby with no leader answers), an outage (every endpoint 503
empty), a leader warm-up (503 empty only where Druid needs its task queue, runner or
supervisor manager), or a switch to standby (307 to another leader) and back.

Two kinds of dropped connection matter differently to a client: `reset_rate` drops the request
before it is handled (nothing happened), `reset_after_rate` handles it and then drops the answer
(a submitted task exists, but the client never heard so) — the case that makes blind retries of
`POST /task` dangerous.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Annotated, Literal

import msgspec
from aiohttp import web

from overlord.sim.catalog import FAILURE_KINDS

JETTY_503 = (
    '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
    "<title>Error 503 Service Unavailable</title>\n</head>\n<body><h2>HTTP ERROR 503 "
    "Service Unavailable</h2>\n</body>\n</html>\n"
)


# The endpoints a leader answers 503 (empty) while its task queue, task runner or supervisor
# manager is absent, every supervisor endpoint besides (REFERENCE §1.2).
WARMUP_ROUTES = frozenset(
    {
        "submit",
        "shutdown",
        "shutdown_all",
        "tasks",
        "waiting_tasks",
        "pending_tasks",
        "running_tasks",
        "complete_tasks",
        "workers",
        "total_capacity",
    }
)


class FaultEvent(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    at_s: float
    kind: Literal["restart", "no_leader", "outage", "warmup", "standby"]
    # How long it lasts (0 = standby for good). For a restart: how long no leader is known
    # while the node starts and wins the election (503 Jetty HTML, REFERENCE §1.2).
    duration_s: float = 0.0
    # restart: what happens to live tasks. Druid keeps them (its task storage is the metadata
    # store); "fail" is a restart that took their workers too, "forget" a lost metadata store.
    mode: Literal["forget", "fail", "keep"] = "keep"
    # restart: then how long the new leader's task queue, runner and supervisor manager take
    # to start (503 empty on the endpoints that need them; status, reports and logs served).
    warmup_s: float = 0.0
    leader_url: str | None = None  # standby: where to redirect


class RestartOptions(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The body of `POST /sim/restart`; see `Simulator.restart`."""

    mode: Literal["forget", "fail", "keep"] = "keep"
    down_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    warmup_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class Faults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Run-time fault injection (`POST /sim/faults`, or `[faults]` of a scenario file)."""

    error_rate: dict[str, float] = {}  # endpoint name (or "*") -> probability of an error reply
    error_status: int = 500  # 500 JSON, 502/504 proxy HTML, 503 empty, 429 queue full
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    latency_distribution: Literal["uniform", "exponential"] = "uniform"
    slow_endpoints: dict[str, float] = {}  # endpoint name -> extra milliseconds
    reset_rate: dict[str, float] = {}  # dropped before the request is handled
    reset_after_rate: dict[str, float] = {}  # handled, then the answer is dropped
    outage_s: float = 0.0  # every Overlord endpoint answers 503 (empty) for this long
    # A new leader whose task queue, runner and supervisor manager are not ready yet: only
    # the endpoints that need them answer 503 (empty); status, reports and logs are served.
    warmup_s: float = 0.0
    no_leader_s: float = 0.0  # ... answers 503 (Jetty HTML): no leader known
    transient_rate: float | None = None  # None: leave the cluster's setting alone
    structural_rate: float | None = None
    stuck_waiting_datasources: list[str] | None = None
    # Supervisors that never reach their stream: UNABLE_TO_CONNECT_TO_STREAM until lifted.
    unhealthy_supervisors: list[str] | None = None
    # Supervisor id -> seconds (on the cluster's clock) of LOST_CONTACT_WITH_STREAM, then back.
    lost_contact_supervisors: dict[str, float] = {}
    # Supervisors whose stored offsets the stream no longer holds, until lifted (a reset).
    offsets_out_of_range_supervisors: list[str] = []
    # Supervisor id -> failure kind (`catalog.FAILURE_KINDS`) of its next streaming tasks.
    failing_stream_tasks: dict[str, str] = {}
    events: list[FaultEvent] = []

    def __post_init__(self) -> None:
        # Kinds that fail a task before it runs would fail each replacement at once, in a
        # loop that never yields; streaming tasks take only the kinds that fail while running.
        usable = sorted(k for k, kind in FAILURE_KINDS.items() if not kind.before_running)
        refused = sorted(set(self.failing_stream_tasks.values()) - set(usable))
        if refused:
            raise ValueError(
                f"failing_stream_tasks names failure kinds {refused}, which no streaming task "
                f"can fail with; use one of {usable}"
            )


class FaultState:
    """The faults in force plus what they need at run time: a seeded RNG and deadlines."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(f"faults:{seed}")
        self.outage_until = 0.0
        self.warmup_until = 0.0
        self.no_leader_until = 0.0
        self.injected: Counter[str] = Counter()
        self.timers: list[asyncio.TimerHandle] = []
        self.apply_deadlines(faults)

    def apply_deadlines(self, faults: Faults) -> None:
        now = time.monotonic()
        self.outage_until = now + faults.outage_s if faults.outage_s else 0.0
        self.warmup_until = now + faults.warmup_s if faults.warmup_s else 0.0
        self.no_leader_until = now + faults.no_leader_s if faults.no_leader_s else 0.0

    def roll(self, rates: dict[str, float], route: str) -> bool:
        rate = rates.get(route, rates.get("*", 0.0))
        return rate > 0 and self.rng.random() < rate

    def latency_s(self, route: str) -> float:
        f = self.faults
        extra = f.slow_endpoints.get(route, 0.0)
        if not (f.latency_ms or f.latency_jitter_ms or extra):
            return 0.0
        if f.latency_distribution == "exponential" and f.latency_jitter_ms > 0:
            jitter = self.rng.expovariate(1.0 / f.latency_jitter_ms)
        else:
            jitter = self.rng.uniform(0, f.latency_jitter_ms)
        return (f.latency_ms + jitter + extra) / 1000

    def in_outage(self) -> bool:
        return self.outage_until > 0 and time.monotonic() < self.outage_until

    def warming_up(self, route: str) -> bool:
        """Whether `route` needs leader machinery that is not ready yet (REFERENCE §1.2)."""
        return (
            self.warmup_until > 0
            and time.monotonic() < self.warmup_until
            and (route in WARMUP_ROUTES or route.startswith("supervisor"))
        )

    def leaderless(self) -> bool:
        return self.no_leader_until > 0 and time.monotonic() < self.no_leader_until

    def error_reply(self, route: str) -> web.Response:
        status = self.faults.error_status
        self.injected["errors"] += 1
        if status == 503:
            return web.Response(status=503)
        if status in (502, 504):
            title = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[status]
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return web.Response(text=page, status=status, content_type="text/html")
        if status == 429:
            body = {
                "error": "druidException",
                "errorCode": "general",
                "persona": "ADMIN",
                "category": "CAPACITY_EXCEEDED",
                "errorMessage": "Task queue already contains [1000] tasks. Retry later or "
                "increase 'druid.indexer.queue.maxSize'[1000].",
                "context": {},
            }
        else:
            body = {"error": f"simulated failure of {route}"}
        return web.Response(
            body=msgspec.json.encode(body), status=status, content_type="application/json"
        )

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


def drop_connection(request: web.Request) -> None:
    """Close the client's connection without an answer, as a crashed proxy or node would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
