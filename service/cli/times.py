"""Times for people: ISO 8601 with its zone where a time is written down, relative times
("in 42 s", "3 min ago") where a table has a few columns to say when.

The log keeps epoch seconds; every human output and every JSON (the CLI's and the API's,
`service.http.job_json`) show the ISO form, the epoch kept beside it as `accepted_at_epoch`.
"""

from __future__ import annotations

import time


def span(seconds: float) -> str:
    """A duration as people say it: `42 s`, `3 min`, `2 h 5 min`, `3 d`."""
    s = max(0, round(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 36 * 3600:
        hours, rest = divmod(s, 3600)
        minutes = round(rest / 60)
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    return f"{round(s / 86400)} d"


def relative(epoch: float | None, now: float | None = None) -> str:
    """`in 42 s` for a time to come, `3 min ago` for one gone, `now` within a second."""
    if epoch is None:
        return "-"
    delta = epoch - (time.time() if now is None else now)
    if abs(delta) < 1:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"
