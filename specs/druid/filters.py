"""Druid query filters, as used by `transformSpec.filter` and the `druid` input source.

Core filter types are modelled strictly; any other `type` (an extension's filter) passes
through as an `Extension`. Sub-objects that are large families with extensions of their own
(extraction functions, search queries, filter tuning) stay plain mappings.
"""

from __future__ import annotations

from typing import Any, Union

from specs.druid.base import UNSET, Extension, Opt, SpecBase

__all__ = ["Filter"]

# Jackson turns a JSON number or boolean into the string a filter compares against.
Scalar = str | int | float | bool


class _Tuned(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    filter_tuning: Opt[dict[str, Any]] = UNSET


class _OnDimension(_Tuned, frozen=True, kw_only=True):
    dimension: str
    extraction_fn: Opt[dict[str, Any]] = UNSET


class SelectorFilter(_OnDimension, frozen=True, kw_only=True, tag="selector"):
    value: Opt[Scalar] = UNSET


class EqualsFilter(_Tuned, frozen=True, kw_only=True, tag="equals"):
    column: str
    match_value_type: str
    match_value: Any


class NullFilter(_Tuned, frozen=True, kw_only=True, tag="null"):
    column: str


class RangeFilter(_Tuned, frozen=True, kw_only=True, tag="range"):
    column: str
    match_value_type: str
    lower: Opt[Any] = UNSET
    upper: Opt[Any] = UNSET
    lower_open: Opt[bool] = UNSET
    upper_open: Opt[bool] = UNSET


class InFilter(_Tuned, frozen=True, kw_only=True, tag="in"):
    # The classic form names `dimension` + `values`; the typed form `column` +
    # `matchValueType` + `sortedValues`. Both share the tag.
    dimension: Opt[str] = UNSET
    column: Opt[str] = UNSET
    values: Opt[list[Scalar | None]] = UNSET
    sorted_values: Opt[list[Any]] = UNSET
    match_value_type: Opt[str] = UNSET
    extraction_fn: Opt[dict[str, Any]] = UNSET


class BoundFilter(_OnDimension, frozen=True, kw_only=True, tag="bound"):
    lower: Opt[Scalar] = UNSET
    upper: Opt[Scalar] = UNSET
    lower_strict: Opt[bool] = UNSET
    upper_strict: Opt[bool] = UNSET
    ordering: Opt[str | dict[str, Any]] = UNSET


class LikeFilter(_OnDimension, frozen=True, kw_only=True, tag="like"):
    pattern: str
    escape: Opt[str] = UNSET


class RegexFilter(_OnDimension, frozen=True, kw_only=True, tag="regex"):
    pattern: str


class SearchFilter(_OnDimension, frozen=True, kw_only=True, tag="search"):
    query: dict[str, Any]


class IntervalFilter(_OnDimension, frozen=True, kw_only=True, tag="interval"):
    intervals: list[str]


class JavaScriptFilter(_OnDimension, frozen=True, kw_only=True, tag="javascript"):
    function: str


class SpatialFilter(_Tuned, frozen=True, kw_only=True, tag="spatial"):
    dimension: str
    bound: dict[str, Any]


class ExpressionFilter(_Tuned, frozen=True, kw_only=True, tag="expression"):
    expression: str


class ArrayContainsElementFilter(_Tuned, frozen=True, kw_only=True, tag="arrayContainsElement"):
    column: str
    element_match_value_type: str
    element_match_value: Any


class ColumnComparisonFilter(
    SpecBase, frozen=True, kw_only=True, tag_field="type", tag="columnComparison"
):
    dimensions: list[str | dict[str, Any]]


class TrueFilter(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="true"):
    pass


class FalseFilter(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="false"):
    pass


class AndFilter(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="and"):
    fields: list[Filter]


class OrFilter(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="or"):
    fields: list[Filter]


class NotFilter(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="not"):
    field: Filter


Filter = Union[  # noqa: UP007 - a recursive alias must be a runtime Union
    SelectorFilter,
    EqualsFilter,
    NullFilter,
    RangeFilter,
    InFilter,
    BoundFilter,
    LikeFilter,
    RegexFilter,
    SearchFilter,
    IntervalFilter,
    JavaScriptFilter,
    SpatialFilter,
    ExpressionFilter,
    ArrayContainsElementFilter,
    ColumnComparisonFilter,
    TrueFilter,
    FalseFilter,
    AndFilter,
    OrFilter,
    NotFilter,
    Extension,
]
"""A Druid filter: a core type, or an extension's filter kept verbatim."""
