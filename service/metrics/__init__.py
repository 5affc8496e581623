"""Prometheus metrics for the daemon (`GET /metrics`), each source read the cheapest way it
allows. Every `Metrics` has its own registry, so several orchestrators (tests) never share
counters.

* `families`: the counters and histograms fed as things happen.
* `bridge`: `Metrics`, which feeds them from a running orchestrator (its listener hook, the
  event log's tail, the poller and writer statistics).
* `collector` (with `supervisors`): the state read at scrape time, the jobs by phase among it,
  so an alert on dead jobs does not clear itself when the daemon restarts.
* `overlord_calls`: `InstrumentedOverlord`, the Overlord client's calls counted and timed.
"""

from __future__ import annotations

from service.metrics.bridge import Metrics
from service.metrics.overlord_calls import InstrumentedOverlord

__all__ = ["InstrumentedOverlord", "Metrics"]
