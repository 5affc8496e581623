"""The event time of a simulated stream: how far a supervisor's tasks have read, what they
hand off, and where they may still write.

Theory of operation. A supervisor's stream starts at event time `epoch_event` when the
supervisor is created (wall time `epoch_wall`). Its newest record is at
`head(t) = epoch_event + (t - epoch_wall) * rate`, and its tasks have read up to
`frontier(t) = head(t) - lag - backlog(t)`. The backlog grows while no task reads (suspended,
or no task can start) and shrinks once tasks read again, `catch_up` times as fast as the
stream grows, as tasks resuming from stored offsets do. When a task group ends (after
`taskDuration`), every segmentGranularity bucket wholly behind the frontier, and behind the
late-data window where late rows may still land, is published as a segment and the handoff
boundary moves to its end. Streaming tasks may write anywhere at or after the boundary, so a
batch or compaction task that runs on an interval ending after it overlaps a live stream.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from overlord.sim.locks import Span
from overlord.sim.periods import parse_period, standard_seconds
from overlord.sim.tasks import BATCH_TYPES, ClusterConfig, SimTask, iso, parse_instant

_FIXED_S = {
    "SECOND": 1,
    "MINUTE": 60,
    "FIVE_MINUTE": 300,
    "TEN_MINUTE": 600,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "HOUR": 3600,
    "SIX_HOUR": 6 * 3600,
    "EIGHT_HOUR": 8 * 3600,
    "DAY": 86400,
    "WEEK": 7 * 86400,
}
_MONTHS = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}
_MONDAY_S = 4 * 86400.0  # Joda weeks start on Monday; 1970-01-01 was a Thursday
# A clock jump of years at MINUTE granularity would otherwise build millions of segments.
MAX_BUCKETS_PER_HANDOFF = 10_000
MAX_OVERLAPS_KEPT = 100


class Granularity(NamedTuple):
    """A segmentGranularity as buckets: a fixed length from an origin, or calendar months.
    `seconds == 0 and months == 0` is ALL: one bucket that never ends, so never hands off."""

    seconds: float = 0.0
    months: int = 0
    origin: float = 0.0

    def floor(self, t: float) -> float:
        if self.months:
            at = datetime.fromtimestamp(t, UTC)
            index = (at.year * 12 + at.month - 1) // self.months * self.months
            return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()
        if self.seconds:
            return self.origin + math.floor((t - self.origin) / self.seconds) * self.seconds
        return -math.inf

    def after(self, start: float) -> float:
        """The end of the bucket that begins at `start`."""
        if self.months:
            at = datetime.fromtimestamp(start, UTC)
            index = at.year * 12 + at.month - 1 + self.months
            return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()
        return start + self.seconds if self.seconds else math.inf


def granularity_of(schema: dict[str, Any]) -> Granularity:
    """The spec's `granularitySpec.segmentGranularity` (Druid's default is DAY).

    Time zones and origins of period granularities are ignored: buckets are in UTC. NONE
    (one millisecond) is read as SECOND, because a segment per millisecond of simulated
    stream would drown the Coordinator endpoints without telling a client anything more.
    """
    raw = (schema.get("granularitySpec") or {}).get("segmentGranularity") or "DAY"
    if isinstance(raw, dict):
        period = parse_period(str(raw.get("period") or "P1D"))
        if period.years or period.months:
            return Granularity(months=period.years * 12 + period.months)
        return Granularity(seconds=period.fixed().total_seconds())
    name = str(raw).upper()
    if name == "ALL":
        return Granularity()
    if name in _MONTHS:
        return Granularity(months=_MONTHS[name])
    seconds = _FIXED_S.get(name, _FIXED_S["SECOND"] if name == "NONE" else _FIXED_S["DAY"])
    return Granularity(seconds=float(seconds), origin=_MONDAY_S if name == "WEEK" else 0.0)


def _period_s(io: dict[str, Any], key: str) -> float | None:
    value = io.get(key)
    return standard_seconds(str(value)) if value else None


@dataclass(slots=True)
class StreamClock:
    """One supervisor's stream in event time, and how much of it is handed off."""

    epoch_wall: float
    epoch_event: float
    rate: float
    lag_s: float
    late_s: float  # how far behind the frontier late rows still arrive (0: none)
    granularity: Granularity
    boundary: float  # the end of the last published bucket: streaming writes start here
    late_rejection_s: float | None = None
    early_rejection_s: float | None = None
    catch_up: float = 4.0
    reading: bool = True
    behind_s: float = 0.0  # the backlog, in event seconds, at wall time `behind_at`
    behind_at: float = 0.0

    @classmethod
    def start(
        cls, config: ClusterConfig, schema: dict[str, Any], io: dict[str, Any], wall: float
    ) -> StreamClock:
        start = config.stream_event_start
        epoch_event = parse_instant(start) if start else wall
        late_rejection = _period_s(io, "lateMessageRejectionPeriod")
        late = (late_rejection or 0.0) if config.stream_late_data else 0.0
        granularity = granularity_of(schema)
        lag = config.stream_lag_s
        # The first task reads from the frontier, and late rows land up to `late` behind it.
        first = granularity.floor(epoch_event - lag - late)
        return cls(
            epoch_wall=wall,
            epoch_event=epoch_event,
            rate=config.stream_event_rate,
            lag_s=lag,
            late_s=late,
            granularity=granularity,
            boundary=first,
            late_rejection_s=late_rejection,
            early_rejection_s=_period_s(io, "earlyMessageRejectionPeriod"),
            catch_up=config.stream_catch_up,
            behind_at=wall,
        )

    def head(self, wall: float) -> float:
        """Event time of the newest record in the stream."""
        return self.epoch_event + (wall - self.epoch_wall) * self.rate

    def frontier(self, wall: float) -> float:
        """Event time up to which the supervisor's tasks have read."""
        return self.head(wall) - self.lag_s - self.backlog(wall)

    def backlog(self, wall: float) -> float:
        """Event seconds the tasks trail by beyond `lag_s`, after a time nobody read."""
        grown = max(0.0, wall - self.behind_at) * self.rate
        if not self.reading:
            return self.behind_s + grown
        return max(0.0, self.behind_s - grown * (self.catch_up - 1))

    def set_reading(self, reading: bool, wall: float) -> None:
        """Tasks started reading the stream, or the last one stopped."""
        if reading != self.reading:
            self.behind_s, self.behind_at, self.reading = self.backlog(wall), wall, reading

    def hand_off(self, wall: float, accepted_from: float | None = None) -> list[Span]:
        """Publish every bucket no row can land in any more; returns them, oldest first.

        `accepted_from`: the earliest `minimumMessageTime` of the tasks that read on (the
        live ones and the one about to start). They reject older rows, so a bucket wholly
        before it is complete even where late rows would otherwise still land.
        """
        complete = self.frontier(wall) - self.late_s
        if accepted_from is not None:
            complete = max(complete, accepted_from)
        spans: list[Span] = []
        start = self.boundary
        while len(spans) < MAX_BUCKETS_PER_HANDOFF:
            end = self.granularity.after(start)
            if end > complete:
                break
            spans.append((start, end, f"{iso(start)}/{iso(end)}"))
            start = end
        self.boundary = start
        return spans

    def live(self, span: Span) -> bool:
        """Whether a streaming task may still write inside `span` (it ends after the boundary)."""
        return span[1] > self.boundary

    def accepted_from(self, wall: float) -> float | None:
        """The `minimumMessageTime` of a task created at `wall` (None: no rejection window)."""
        if self.late_rejection_s is None:
            return None
        return self.head(wall) - self.late_rejection_s

    def message_window(self, wall: float, duration_s: float) -> dict[str, str]:
        """`minimumMessageTime` / `maximumMessageTime` of a task created at `wall`, as Druid
        puts them in an `index_kafka` task's ioConfig (REFERENCE §9.3), when the spec has
        rejection periods. Druid measures them from its wall clock; here from the stream's
        newest record, which is the same instant when event time runs at wall speed."""
        now = self.head(wall)
        window: dict[str, str] = {}
        accepted = self.accepted_from(wall)
        if accepted is not None:
            window["minimumMessageTime"] = iso(accepted)
        if self.early_rejection_s is not None:
            window["maximumMessageTime"] = iso(now + duration_s + self.early_rejection_s)
        return window


def earliest_accepted(
    clock: StreamClock, wall: float, payloads: Iterable[dict[str, Any]]
) -> float | None:
    """The earliest minimumMessageTime of the tasks that read on: those whose `payloads` are
    given, and any created from `wall` on. None when any of them accepts rows of every age."""
    bounds = [clock.accepted_from(wall)]
    for payload in payloads:
        window = payload.get("ioConfig") or {}
        minimum = window.get("minimumMessageTime")
        bounds.append(parse_instant(minimum) if minimum is not None else None)
    known = [b for b in bounds if b is not None]
    return min(known) if known and len(known) == len(bounds) else None


class Overlaps:
    """Batch or compaction tasks that ran where a live stream still wrote (`/sim/stats`).

    Each (task, interval) counts once, however many streams write there or however often
    it is checked (when the task starts, and when a stream starts under it).
    """

    def __init__(self) -> None:
        self.count = 0
        self.latest: deque[dict[str, str]] = deque(maxlen=MAX_OVERLAPS_KEPT)
        self._seen: set[tuple[str, str]] = set()

    def clear(self) -> None:
        self.count = 0
        self.latest.clear()
        self._seen.clear()

    def check(self, task: SimTask, streams: Iterable[tuple[str, StreamClock]]) -> None:
        """Count `task` where it runs on an interval one of `streams` (supervisor id and
        clock, each writing the task's datasource) has not handed off."""
        if task.type not in BATCH_TYPES or not task.top_level:
            return
        for supervisor_id, clock in streams:
            for span in task.intervals:
                key = (task.id, span[2])
                if clock.live(span) and key not in self._seen:
                    self._seen.add(key)
                    self.count += 1
                    self.latest.append(
                        {
                            "task": task.id,
                            "type": task.type,
                            "datasource": task.datasource,
                            "interval": span[2],
                            "supervisor": supervisor_id,
                            "stream_writes_from": iso(clock.boundary),
                        }
                    )
