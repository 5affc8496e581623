"""Interval math: ISO-8601 instants, intervals and periods, granularity alignment, splitting.

Intervals are half-open `[start, end)` in UTC, as Druid's are. Their canonical text is
`2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z`, the form Druid prints.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import msgspec

from specs.errors import IntervalError

_PERIOD = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)

GRANULARITIES = (
    "SECOND",
    "MINUTE",
    "FIVE_MINUTE",
    "TEN_MINUTE",
    "FIFTEEN_MINUTE",
    "THIRTY_MINUTE",
    "HOUR",
    "SIX_HOUR",
    "EIGHT_HOUR",
    "DAY",
    "WEEK",
    "MONTH",
    "QUARTER",
    "YEAR",
)
_FIXED = {
    "SECOND": timedelta(seconds=1),
    "MINUTE": timedelta(minutes=1),
    "FIVE_MINUTE": timedelta(minutes=5),
    "TEN_MINUTE": timedelta(minutes=10),
    "FIFTEEN_MINUTE": timedelta(minutes=15),
    "THIRTY_MINUTE": timedelta(minutes=30),
    "HOUR": timedelta(hours=1),
    "SIX_HOUR": timedelta(hours=6),
    "EIGHT_HOUR": timedelta(hours=8),
    "DAY": timedelta(days=1),
    "WEEK": timedelta(weeks=1),
}
_MONTHS = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date or date-time; no zone means UTC (as Druid assumes)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise IntervalError(f"{text!r} is not an ISO-8601 date or time", rule="iso8601") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class Period(msgspec.Struct, frozen=True):
    months: int = 0
    delta: timedelta = timedelta(0)

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip().upper())
        if not match or text.strip().upper() in ("P", "PT"):
            raise IntervalError(
                f"{text!r} is not an ISO-8601 period such as P1D or PT1H", rule="iso8601-period"
            )
        g = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
        period = cls(
            months=g["y"] * 12 + g["mo"],
            delta=timedelta(
                weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["mi"], seconds=g["s"]
            ),
        )
        if period.months == 0 and period.delta <= timedelta(0):
            raise IntervalError(f"period {text!r} is empty", rule="iso8601-period")
        return period

    def add_to(self, value: datetime, times: int = 1) -> datetime:
        """`value` plus this period, `times` times (months first, then the fixed part)."""
        if self.months:
            value = _add_months(value, self.months * times)
        return value + self.delta * times

    def subtract_from(self, value: datetime) -> datetime:
        """`value` minus this period (the fixed part first, then months)."""
        return _sub_period(value, self)


def _add_months(value: datetime, months: int) -> datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    # Clamp to the month's last day, as Joda (and so Druid) does: Jan 31 + P1M is Feb 29.
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


class Interval(msgspec.Struct, frozen=True, order=True):
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise IntervalError(
                f"interval {format_instant(self.start)}/{format_instant(self.end)} is empty "
                "or reversed: the end must be after the start",
                rule="interval-order",
            )

    @classmethod
    def parse(cls, text: str) -> Interval:
        """`start/end`, `start/period` or `period/end` (ISO-8601); open ends are refused."""
        left, sep, right = text.strip().partition("/")
        if not sep or not left or not right:
            raise IntervalError(
                f"{text!r} is not an interval: expected 'start/end'", rule="interval-explicit"
            )
        if left.upper().startswith("P"):
            end = parse_instant(right)
            return cls(_sub_period(end, Period.parse(left)), end)
        start = parse_instant(left)
        if right.upper().startswith("P"):
            return cls(start, Period.parse(right).add_to(start))
        return cls(start, parse_instant(right))

    def __str__(self) -> str:
        return f"{format_instant(self.start)}/{format_instant(self.end)}"

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def _sub_period(end: datetime, period: Period) -> datetime:
    value = end - period.delta
    if period.months:
        value = _add_months(value, -period.months)
    return value


def check_granularity(name: str) -> str:
    upper = name.upper()
    if upper not in GRANULARITIES:
        raise IntervalError(
            f"unknown granularity {name!r}; expected one of {', '.join(GRANULARITIES)}",
            rule="granularity",
        )
    return upper


def floor(value: datetime, granularity: str) -> datetime:
    """The start of the granularity bucket holding `value` (UTC buckets, weeks from Monday)."""
    g = check_granularity(granularity)
    value = value.astimezone(UTC)
    if g in _MONTHS:
        month = value.month - 1
        month -= month % _MONTHS[g]
        return value.replace(month=month + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if g == "WEEK":
        day = value.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    step = _FIXED[g]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((value - epoch) // step) * step


def next_bucket(value: datetime, granularity: str) -> datetime:
    g = check_granularity(granularity)
    start = floor(value, g)
    if g in _MONTHS:
        return _add_months(start, _MONTHS[g])
    return start + _FIXED[g]


def ceil(value: datetime, granularity: str) -> datetime:
    start = floor(value, granularity)
    return start if start == value else next_bucket(value, granularity)


def is_aligned(interval: Interval, granularity: str) -> bool:
    return floor(interval.start, granularity) == interval.start and (
        floor(interval.end, granularity) == interval.end
    )


def align(interval: Interval, granularity: str) -> Interval:
    """The smallest granularity-aligned interval that covers `interval`."""
    return Interval(floor(interval.start, granularity), ceil(interval.end, granularity))


def split(interval: Interval, chunk: str) -> Iterator[Interval]:
    """Consecutive chunks of `interval`: a granularity name (DAY) or a period (P1D, PT6H).

    Chunks cover the interval exactly; the last one is cut at the interval's end.
    """
    if chunk.upper() in GRANULARITIES:
        cursor = interval.start
        while cursor < interval.end:
            nxt = min(next_bucket(cursor, chunk), interval.end)
            yield Interval(cursor, nxt)
            cursor = nxt
        return
    period = Period.parse(chunk)
    n = 0
    cursor = interval.start
    while cursor < interval.end:
        n += 1
        nxt = min(period.add_to(interval.start, n), interval.end)
        yield Interval(cursor, nxt)
        cursor = nxt


def subtract(interval: Interval, covered: list[Interval]) -> list[Interval]:
    """The parts of `interval` that no interval in `covered` overlaps, in order."""
    pieces = [interval]
    for cut in sorted(covered):
        nxt: list[Interval] = []
        for piece in pieces:
            if not piece.overlaps(cut):
                nxt.append(piece)
                continue
            if piece.start < cut.start:
                nxt.append(Interval(piece.start, cut.start))
            if cut.end < piece.end:
                nxt.append(Interval(cut.end, piece.end))
        pieces = nxt
    return pieces
