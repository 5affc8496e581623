"""Ingestion-time aggregators (`metricsSpec`).

The core aggregators are modelled strictly. Sketches and the other extension aggregators
(`thetaSketch`, `HLLSketchBuild`, `quantilesDoublesSketch`, `spectatorHistogram`...) pass
through as `Extension`, so a spec using them keeps every key.
"""

from __future__ import annotations

from typing import Any, Union

from specs.druid.base import UNSET, Extension, Opt, SpecBase
from specs.druid.filters import Filter

__all__ = ["Aggregator", "aggregator_name"]


class _Named(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    name: str


class CountAggregator(_Named, frozen=True, kw_only=True, tag="count"):
    pass


class _Simple(_Named, frozen=True, kw_only=True):
    field_name: Opt[str] = UNSET
    expression: Opt[str] = UNSET


class LongSumAggregator(_Simple, frozen=True, kw_only=True, tag="longSum"):
    pass


class DoubleSumAggregator(_Simple, frozen=True, kw_only=True, tag="doubleSum"):
    pass


class FloatSumAggregator(_Simple, frozen=True, kw_only=True, tag="floatSum"):
    pass


class LongMinAggregator(_Simple, frozen=True, kw_only=True, tag="longMin"):
    pass


class LongMaxAggregator(_Simple, frozen=True, kw_only=True, tag="longMax"):
    pass


class DoubleMinAggregator(_Simple, frozen=True, kw_only=True, tag="doubleMin"):
    pass


class DoubleMaxAggregator(_Simple, frozen=True, kw_only=True, tag="doubleMax"):
    pass


class FloatMinAggregator(_Simple, frozen=True, kw_only=True, tag="floatMin"):
    pass


class FloatMaxAggregator(_Simple, frozen=True, kw_only=True, tag="floatMax"):
    pass


class _FirstLast(_Named, frozen=True, kw_only=True):
    field_name: str
    time_column: Opt[str] = UNSET


class LongFirstAggregator(_FirstLast, frozen=True, kw_only=True, tag="longFirst"):
    pass


class LongLastAggregator(_FirstLast, frozen=True, kw_only=True, tag="longLast"):
    pass


class DoubleFirstAggregator(_FirstLast, frozen=True, kw_only=True, tag="doubleFirst"):
    pass


class DoubleLastAggregator(_FirstLast, frozen=True, kw_only=True, tag="doubleLast"):
    pass


class FloatFirstAggregator(_FirstLast, frozen=True, kw_only=True, tag="floatFirst"):
    pass


class FloatLastAggregator(_FirstLast, frozen=True, kw_only=True, tag="floatLast"):
    pass


class StringFirstAggregator(_FirstLast, frozen=True, kw_only=True, tag="stringFirst"):
    max_string_bytes: Opt[int] = UNSET


class StringLastAggregator(_FirstLast, frozen=True, kw_only=True, tag="stringLast"):
    max_string_bytes: Opt[int] = UNSET


class HyperUniqueAggregator(_Named, frozen=True, kw_only=True, tag="hyperUnique"):
    field_name: str
    is_input_hyper_unique: Opt[bool] = UNSET
    round: Opt[bool] = UNSET


class CardinalityAggregator(_Named, frozen=True, kw_only=True, tag="cardinality"):
    fields: list[str | dict[str, Any]]
    by_row: Opt[bool] = UNSET
    round: Opt[bool] = UNSET


class ExpressionAggregator(_Named, frozen=True, kw_only=True, tag="expression"):
    fold: str
    fields: Opt[list[str]] = UNSET
    accumulator_identifier: Opt[str] = UNSET
    combine: Opt[str] = UNSET
    compare: Opt[str] = UNSET
    finalize: Opt[str] = UNSET
    initial_value: Opt[str] = UNSET
    initial_combine_value: Opt[str] = UNSET
    is_null_unless_aggregated: Opt[bool] = UNSET
    should_aggregate_null_inputs: Opt[bool] = UNSET
    should_combine_aggregate_null_inputs: Opt[bool] = UNSET
    max_size_bytes: Opt[int | str] = UNSET


class JavaScriptAggregator(_Named, frozen=True, kw_only=True, tag="javascript"):
    field_names: list[str]
    fn_aggregate: str
    fn_reset: str
    fn_combine: str


class FilteredAggregator(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="filtered"):
    aggregator: Aggregator
    filter: Filter
    name: Opt[str] = UNSET


Aggregator = Union[  # noqa: UP007 - recursive through `filtered`
    CountAggregator,
    LongSumAggregator,
    DoubleSumAggregator,
    FloatSumAggregator,
    LongMinAggregator,
    LongMaxAggregator,
    DoubleMinAggregator,
    DoubleMaxAggregator,
    FloatMinAggregator,
    FloatMaxAggregator,
    LongFirstAggregator,
    LongLastAggregator,
    DoubleFirstAggregator,
    DoubleLastAggregator,
    FloatFirstAggregator,
    FloatLastAggregator,
    StringFirstAggregator,
    StringLastAggregator,
    HyperUniqueAggregator,
    CardinalityAggregator,
    ExpressionAggregator,
    JavaScriptAggregator,
    FilteredAggregator,
    Extension,
]
"""An ingestion aggregator: a core type, or an extension's aggregator kept verbatim."""


def aggregator_name(aggregator: Aggregator) -> str | None:
    """The output column an aggregator writes, if it names one."""
    if isinstance(aggregator, Extension):
        name = aggregator.raw.get("name")
        return name if isinstance(name, str) else None
    if isinstance(aggregator, FilteredAggregator):
        if isinstance(aggregator.name, str):
            return aggregator.name
        return aggregator_name(aggregator.aggregator)
    return aggregator.name
