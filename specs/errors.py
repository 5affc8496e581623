"""Errors of the specs room. Messages name the file, the JSON path and the rule."""

from __future__ import annotations

from typing import ClassVar


class SpecError(Exception):
    """A spec or pipeline template is invalid. Never retryable: the input must change."""

    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, path: str = "$", rule: str = "schema", source: str = ""
    ) -> None:
        self.path = path
        self.rule = rule
        self.source = source
        self.detail = message
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}")

    def with_source(self, source: str) -> SpecError:
        return type(self)(self.detail, path=self.path, rule=self.rule, source=source)


class IntervalError(SpecError):
    """An ISO-8601 interval, period or granularity that cannot be used."""


class WatermarkError(SpecError):
    """No safe streaming watermark exists, so a batch range cannot be clipped safely."""
