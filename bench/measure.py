"""Process measurements shared by both sides of the lifecycle benchmark.

Each side measures itself, from inside its own process, over the same window: from just
before its first submission to just after its last job ended. Start-up (imports, compiling
the specs, opening the log) is outside the window on both sides.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size now (Linux `/proc/self/statm`), in bytes."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads included (SQLite's and ours)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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
    # the largest lateness of the sampler's wake-up: how starved the process was
    sampler_lag_max_s: float = 0.0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss, live)

    def start(self) -> None:
        self.rss0 = self.peak_rss = rss_bytes()
        self.cpu0 = cpu_seconds()
        self.started = time.time()

    def sample(self, lag_s: float = 0.0) -> None:
        rss = rss_bytes()
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_live = max(self.peak_live, self.live)
        self.sampler_lag_max_s = max(self.sampler_lag_max_s, lag_s)
        if len(self.samples) < 20_000:
            self.samples.append((round(time.time() - self.started, 3), rss, self.live))

    def stop(self) -> None:
        self.sample()
        self.ended = time.time()
        self.cpu1 = cpu_seconds()

    def figures(self, jobs: int) -> dict[str, float | int | None]:
        wall = self.ended - self.started
        cpu = self.cpu1 - self.cpu0
        grown = max(0, self.peak_rss - self.rss0)
        return {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
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
