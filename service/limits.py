"""Bounds on what one request may ask of the daemon, each a key of `[limits]`.

A bound is checked before the work it bounds is done: the jobs of a template range are
counted (chunk by chunk, stopping one past the bound) before any is compiled, and a body's
nesting is measured on its bytes before it is decoded. A request over a bound is refused with
the key named and nothing of it recorded, so an operator knows which key to raise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import islice
from typing import Annotated, ClassVar

import msgspec

from specs.errors import SpecError
from specs.intervals import Interval, split

__all__ = [
    "BoundExceededError",
    "LimitsSection",
    "check_depth",
    "check_job_count",
    "too_many_jobs",
]


class LimitsSection(msgspec.Struct, frozen=True, kw_only=True):
    # 10,000 jobs is years of daily chunks; a typo like 0001/9999 chunked by hour is 87 million.
    max_jobs_per_submission: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    # Real Druid specs are kilobytes; 1 MiB leaves room for big flattenSpecs and transforms.
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 * 1024**2)] = 1024**2
    # Druid specs nest about 10 deep; the decoders and the redaction recurse per level.
    max_json_depth: Annotated[int, msgspec.Meta(ge=8, le=512)] = 64
    # Upper end of a request's `max_attempts` (the lower end is 1).
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    # Items one query may name or ask for: repeated parameters (`?id=`) and `?limit=`.
    max_list_items: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000


class BoundExceededError(SpecError):
    """A request asks for more than a `[limits]` key allows; `key` names it, `status` is
    the HTTP answer (413 for a body too large, 400 otherwise)."""

    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, key: str, status: int = 400, path: str = "$", source: str = ""
    ) -> None:
        self.key = key
        self.status = status
        self.bound = message
        super().__init__(f"{message} (limits.{key})", path=path, rule="bound", source=source)

    def with_source(self, source: str) -> BoundExceededError:
        return BoundExceededError(
            self.bound, key=self.key, status=self.status, path=self.path, source=source
        )


def check_job_count(intervals: Iterable[Interval], chunk: str, limit: int) -> int:
    """The number of chunks (jobs) `intervals` split into, counted without building them.

    Counting stops one chunk past the bound, so even an absurd range costs at most `limit`
    steps.

    Raises:
        BoundExceededError: more than `limit` jobs.
    """
    total = 0
    for interval in intervals:
        total += sum(1 for _ in islice(split(interval, chunk), limit - total + 1))
        if total > limit:
            raise too_many_jobs(limit)
    return total


def too_many_jobs(limit: int) -> BoundExceededError:
    return BoundExceededError(
        f"the request expands to more than {limit} jobs; submit a shorter range or use a "
        "coarser chunk",
        key="max_jobs_per_submission",
        path="$.intervals",
    )


# A JSON string, escapes included (the unrolled form keeps the regex linear); what is left
# once strings are gone and every byte but a bracket deleted is the body's nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def check_depth(body: bytes, limit: int) -> None:
    """Refuse JSON nested deeper than `limit`, before any decoder recurses into it.

    Strings are cut out and the other bytes dropped in C, so only the brackets are walked in
    Python, and not even those when there are too few to reach the limit. Malformed JSON is
    left for the decoder to report.

    Raises:
        BoundExceededError: nesting deeper than `limit`.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return
    depth = 0
    for byte in brackets:
        depth += _STEP[byte]
        if depth > limit:
            raise BoundExceededError(
                f"the JSON body is nested more than {limit} levels deep", key="max_json_depth"
            )
