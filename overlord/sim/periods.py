"""ISO-8601 periods and intervals the way Druid (Joda-Time) reads them, for the simulator.

Real specs write intervals as `start/end`, `start/period` or `period/end` (`2013-01-01/P1D`)
and list filters take `start_period` (`createdTimeInterval=2023-06-27_P1D`). A supervisor's
`taskDuration` is a period turned into a fixed length (Joda's `toStandardDuration`), which
weeks, days and hours have and months and years do not.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

_PERIOD = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


class Period(NamedTuple):
    years: int
    months: int
    weeks: int
    days: int
    hours: float
    minutes: float
    seconds: float

    def fixed(self) -> timedelta:
        return timedelta(
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )


def parse_period(text: str) -> Period:
    """`P1D`, `PT1H30M`, `P1Y2M`, `P2W`...

    Raises:
        ValueError: not an ISO-8601 period.
    """
    match = _PERIOD.match(text.strip().upper())
    if match is None or not any(match.groups()) or text.strip().upper().endswith("T"):
        raise ValueError(f"not an ISO-8601 period: {text!r}")
    y, mo, w, d = (int(g) if g else 0 for g in match.groups()[:4])
    h, mi, s = (float(g) if g else 0.0 for g in match.groups()[4:])
    return Period(y, mo, w, d, h, mi, s)


def standard_seconds(text: str) -> float:
    """A period's fixed length, as `taskDuration` needs it.

    Raises:
        ValueError: not a period, or one with months or years (no fixed length).
    """
    period = parse_period(text)
    if period.years or period.months:
        raise ValueError(
            f"period {text!r} has months or years, which have no fixed length: use weeks, "
            "days or hours"
        )
    return period.fixed().total_seconds()


def shifted(instant: datetime, period: Period, sign: int) -> datetime:
    """`instant` plus (sign 1) or minus (sign -1) `period`: calendar fields first, as Joda."""
    if period.years or period.months:
        months = instant.year * 12 + instant.month - 1 + sign * (period.years * 12 + period.months)
        year, month = divmod(months, 12)
        last = calendar.monthrange(year, month + 1)[1]
        instant = instant.replace(year=year, month=month + 1, day=min(instant.day, last))
    return instant + sign * period.fixed()


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_bounds(start: str, end: str) -> tuple[datetime, datetime]:
    """An interval's two ends, either of which may be a period (not both).

    Raises:
        ValueError: an end is neither an instant nor a period, or both are periods.
    """
    if start.upper().startswith("P"):
        if end.upper().startswith("P"):
            raise ValueError(f"interval {start}/{end} has two periods and no instant")
        hi = parse_instant(end)
        return shifted(hi, parse_period(start), -1), hi
    lo = parse_instant(start)
    if end.upper().startswith("P"):
        return lo, shifted(lo, parse_period(end), 1)
    return lo, parse_instant(end)
