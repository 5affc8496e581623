"""`dataSchema`: timestamp, dimensions, metrics, granularity and transforms.

Shared by every ingestion spec (native batch, compaction, Kafka and Kinesis supervisors).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta

from specs.druid.aggregators import Aggregator
from specs.druid.base import UNSET, Extension, Opt, SpecBase
from specs.druid.filters import Filter

__all__ = [
    "DataSchema",
    "Dimension",
    "DimensionsSpec",
    "Granularity",
    "GranularitySpec",
    "TimestampSpec",
    "TransformSpec",
    "dimension_name",
]

MultiValueHandling = Literal[
    "SORTED_ARRAY", "SORTED_SET", "ARRAY", "sorted_array", "sorted_set", "array"
]


class TimestampSpec(SpecBase, frozen=True, kw_only=True):
    column: Opt[str] = UNSET
    format: Opt[str] = UNSET
    missing_value: Opt[str] = UNSET


class _Dimension(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    name: Annotated[str, Meta(min_length=1)]
    multi_value_handling: Opt[MultiValueHandling] = UNSET
    create_bitmap_index: Opt[bool] = UNSET


class StringDimension(_Dimension, frozen=True, kw_only=True, tag="string"):
    max_string_length: Opt[int] = UNSET


class LongDimension(_Dimension, frozen=True, kw_only=True, tag="long"):
    pass


class FloatDimension(_Dimension, frozen=True, kw_only=True, tag="float"):
    pass


class DoubleDimension(_Dimension, frozen=True, kw_only=True, tag="double"):
    pass


class JsonDimension(_Dimension, frozen=True, kw_only=True, tag="json"):
    """A nested (json) column."""

    format_version: Opt[int] = UNSET


class AutoDimension(_Dimension, frozen=True, kw_only=True, tag="auto"):
    """A column whose type Druid discovers from the data."""

    cast_to_type: Opt[str] = UNSET


class SpatialDimension(_Dimension, frozen=True, kw_only=True, tag="spatial"):
    dims: Opt[list[str]] = UNSET


Dimension = (
    Annotated[str, Meta(min_length=1)]
    | StringDimension
    | LongDimension
    | FloatDimension
    | DoubleDimension
    | JsonDimension
    | AutoDimension
    | SpatialDimension
    | Extension
)
"""A dimension: a bare name (a string column) or a typed dimension schema."""


def dimension_name(dimension: Dimension) -> str | None:
    """The output column a dimension writes."""
    if isinstance(dimension, str):
        return dimension
    if isinstance(dimension, Extension):
        name = dimension.raw.get("name")
        return name if isinstance(name, str) else None
    return dimension.name


class SpatialDimensionSpec(SpecBase, frozen=True, kw_only=True):
    dim_name: str
    dims: Opt[list[str]] = UNSET


class DimensionsSpec(SpecBase, frozen=True, kw_only=True):
    dimensions: Opt[list[Dimension]] = UNSET
    dimension_exclusions: Opt[list[str]] = UNSET
    spatial_dimensions: Opt[list[SpatialDimensionSpec]] = UNSET
    include_all_dimensions: Opt[bool] = UNSET
    use_schema_discovery: Opt[bool] = UNSET
    force_segment_sort_by_time: Opt[bool] = UNSET


class NoneGranularity(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="none"):
    pass


class AllGranularity(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="all"):
    pass


class PeriodGranularity(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="period"):
    period: str
    time_zone: Opt[str] = UNSET
    origin: Opt[str] = UNSET


class DurationGranularity(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="duration"):
    duration: Annotated[int, Meta(ge=1)]
    origin: Opt[str] = UNSET


Granularity = str | NoneGranularity | AllGranularity | PeriodGranularity | DurationGranularity
"""A granularity: a name such as `DAY` (any case), or a granularity object."""


class GranularitySpec(SpecBase, frozen=True, kw_only=True):
    # `type` is a plain field, not a tag: authors usually leave it out, and a tag would be
    # written back on encode.
    type: Opt[Literal["uniform", "arbitrary"]] = UNSET
    segment_granularity: Opt[Granularity] = UNSET
    query_granularity: Opt[Granularity] = UNSET
    rollup: Opt[bool] = UNSET
    intervals: Opt[list[str]] = UNSET


class ExpressionTransform(SpecBase, frozen=True, kw_only=True, tag_field="type", tag="expression"):
    name: Annotated[str, Meta(min_length=1)]
    expression: str


Transform = ExpressionTransform | Extension


class TransformSpec(SpecBase, frozen=True, kw_only=True):
    transforms: Opt[list[Transform]] = UNSET
    filter: Opt[Filter] = UNSET


class DataSchema(SpecBase, frozen=True, kw_only=True):
    data_source: Annotated[str, Meta(min_length=1)]
    timestamp_spec: Opt[TimestampSpec] = UNSET
    dimensions_spec: Opt[DimensionsSpec] = UNSET
    metrics_spec: Opt[list[Aggregator]] = UNSET
    granularity_spec: Opt[GranularitySpec] = UNSET
    transform_spec: Opt[TransformSpec] = UNSET
    projections: Opt[list[dict[str, Any]]] = UNSET
    # Removed in Druid 37. Kept in the model so the rule can name it (null is still accepted).
    parser: Opt[dict[str, Any]] = UNSET
