"""Process measurements shared by both sides of the lifecycle benchmark.

Each side measures itself, from inside its own process, over the same window: from just
before its first submission to just after its last job ended. Start-up (imports, compiling
the specs, opening the log) is outside the window on both sides.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

_PAGE = os.sysconf("SC_PAGE_SIZE")


_TICK = os.sysconf("SC_CLK_TCK")


def rss_bytes(helpers: Sequence[int] = ()) -> int:
    """Resident set size now of this process and its `helpers` (Linux `statm`), in bytes."""
    total = 0
    for pid in ("self", *helpers):
        with open(f"/proc/{pid}/statm", "rb") as f:
            total += int(f.read().split()[1]) * _PAGE
    return total


def cpu_seconds(helpers: Sequence[int] = ()) -> float:
    """User + system CPU of this process, all threads included (SQLite's and ours), plus
    that of its `helpers`: processes that work for it (the event log's writer)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime + helpers_cpu_seconds(helpers)


def helpers_cpu_seconds(helpers: Sequence[int]) -> float:
    """User + system CPU of the `helpers` processes alone (Linux `/proc/<pid>/stat`)."""
    total = 0.0
    for pid in helpers:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(slots=True)
class Window:
    """CPU, wall time, RSS and live jobs over the measured window."""

    started: float = 0.0
    cpu0: float = 0.0
    rss0: int = 0
    peak_rss: int = 0
    live: int = 0
    peak_live: int = 0
    ended: float = 0.0
    cpu1: float = 0.0
    helpers_cpu0: float = 0.0  # the helpers' share of cpu0 / cpu1
    helpers_cpu1: float = 0.0
    # the largest lateness of the sampler's wake-up: how starved the process was
    sampler_lag_max_s: float = 0.0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss, live)
    # processes whose CPU and memory count as this side's (the event log's writer)
    helpers: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.rss0 = self.peak_rss = rss_bytes(self.helpers)
        self.cpu0 = cpu_seconds(self.helpers)
        self.helpers_cpu0 = helpers_cpu_seconds(self.helpers)
        self.started = time.time()

    def sample(self, lag_s: float = 0.0) -> None:
        rss = rss_bytes(self.helpers)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_live = max(self.peak_live, self.live)
        self.sampler_lag_max_s = max(self.sampler_lag_max_s, lag_s)
        if len(self.samples) < 20_000:
            self.samples.append((round(time.time() - self.started, 3), rss, self.live))

    def stop(self) -> None:
        self.sample()
        self.ended = time.time()
        self.cpu1 = cpu_seconds(self.helpers)
        self.helpers_cpu1 = helpers_cpu_seconds(self.helpers)

    def figures(self, jobs: int) -> dict[str, float | int | None]:
        wall = self.ended - self.started
        cpu = self.cpu1 - self.cpu0
        grown = max(0, self.peak_rss - self.rss0)
        return {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "helpers_cpu_s": round(self.helpers_cpu1 - self.helpers_cpu0, 3),
            "cpu_ms_per_job": round(cpu * 1000 / jobs, 3),
            "cpu_util": round(cpu / wall, 3) if wall > 0 else None,
            "rss_idle_mb": round(self.rss0 / 2**20, 1),
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "peak_live_jobs": self.peak_live,
            # what the live jobs added on top of the idle process, per live job
            "rss_mb_per_live_job": (
                round(grown / 2**20 / self.peak_live, 4) if self.peak_live else None
            ),
            "sampler_lag_max_s": round(self.sampler_lag_max_s, 3),
        }
