"""Errors of the specs room. Messages name the file, the JSON path and the rule."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "CapacityError",
    "IntervalError",
    "SpecError",
    "WatermarkError",
    "from_validation_error",
]


class SpecError(Exception):
    """A spec or pipeline template is invalid. Never retryable: the input must change.

    Attributes:
        path: JSON path of the offending value (`$.spec.tuningConfig.partitionsSpec`).
        rule: stable name of the rule broken (`partitions-need-perfect-rollup`,
            `unknown-field`, `schema`, ...).
        source: the file the spec or template came from, when known.
        detail: the message without the source and path.
    """

    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, path: str = "$", rule: str = "schema", source: str = ""
    ) -> None:
        self.path = path
        self.rule = rule
        self.source = source
        self.detail = message
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message} [{rule}]")

    def with_source(self, source: str) -> SpecError:
        """The same error, attributed to `source` (a file name)."""
        return type(self)(self.detail, path=self.path, rule=self.rule, source=source)


class IntervalError(SpecError):
    """An ISO-8601 interval, period or granularity that cannot be used."""


class WatermarkError(SpecError):
    """No safe streaming watermark exists, so a batch range cannot be clipped safely."""


class CapacityError(SpecError):
    """The cluster has too few free slots to start every job now.

    Retryable: slots free up as running tasks finish. `fits` says how many of the jobs could
    start now (at their minimum parallelism), so a caller can submit that many and wait.
    """

    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        rule: str = "capacity",
        source: str = "",
        fits: int = 0,
    ) -> None:
        super().__init__(message, path=path, rule=rule, source=source)
        self.fits = fits

    def with_source(self, source: str) -> CapacityError:
        return CapacityError(
            self.detail, path=self.path, rule=self.rule, source=source, fits=self.fits
        )


_AT = re.compile(r"^(?P<message>.*) - at `(?P<path>[^`]*)`$", re.DOTALL)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def from_validation_error(
    exc: Exception, *, known_fields: Sequence[str] = (), source: str = ""
) -> SpecError:
    """A `SpecError` from a msgspec validation error, with the path pointing at the field.

    An unknown or missing field gets its own name appended to the path (msgspec reports the
    object that holds it), and a close match among `known_fields` is offered as a hint.
    """
    match = _AT.match(str(exc))
    message, path = (match["message"], match["path"]) if match else (str(exc), "$")
    if unknown := _UNKNOWN_FIELD.match(message):
        field = unknown["field"]
        others = [name for name in known_fields if name != field]
        hint = difflib.get_close_matches(field, others, n=1, cutoff=0.8)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return SpecError(
            f"unknown field {field!r}{suggestion}: this object has no such field",
            path=f"{path}.{field}",
            rule="unknown-field",
            source=source,
        )
    if missing := _MISSING_FIELD.match(message):
        return SpecError(
            f"required field {missing['field']!r} is missing",
            path=f"{path}.{missing['field']}",
            rule="missing-field",
            source=source,
        )
    return SpecError(message, path=path, rule="schema", source=source)
