"""What Druid's JSON creators refuse in one object on its own: aggregators, filters, transforms,
input sources and input formats.

A well-typed object can still break its class's constructor preconditions (an `and` filter
with no fields, a `longSum` with both `fieldName` and `expression`, an `inline` source with
no data...). Druid throws while deserializing, so `POST /task` answers 400; these checks say
so before the spec is sent. Each check names the Druid class that enforces it; the table in
docs/validation.md lists them all with their sources.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from msgspec import UnsetType

from specs.druid.aggregators import (
    Aggregator,
    DoubleMaxAggregator,
    DoubleMinAggregator,
    DoubleSumAggregator,
    FilteredAggregator,
    FloatMaxAggregator,
    FloatMinAggregator,
    FloatSumAggregator,
    LongMaxAggregator,
    LongMinAggregator,
    LongSumAggregator,
)
from specs.druid.base import given, tag_of
from specs.druid.filters import (
    AndFilter,
    BoundFilter,
    EqualsFilter,
    Filter,
    InFilter,
    IntervalFilter,
    LikeFilter,
    NotFilter,
    OrFilter,
    RangeFilter,
)
from specs.druid.inputs import (
    AzureInputSource,
    AzureStorageInputSource,
    CombiningInputSource,
    CsvFormat,
    DruidInputSource,
    GoogleInputSource,
    HttpInputSource,
    InputFormat,
    InputSource,
    KafkaFormat,
    KinesisFormat,
    LocalInputSource,
    S3InputSource,
    TsvFormat,
)
from specs.druid.schema import ExpressionTransform, TransformSpec
from specs.errors import SpecError

__all__ = [
    "PRECONDITION_RULES",
    "aggregator_errors",
    "filter_errors",
    "input_format_errors",
    "input_source_errors",
    "transform_errors",
]

PRECONDITION_RULES = {
    "aggregator-field-or-expression": "sum/min/max aggregators take exactly one of fieldName, "
    "expression",
    "metric-name-empty": "a metric's name may not be empty",
    "filter-needs-fields": "and/or filters need at least one field",
    "filter-needs-bound": "bound/range filters need lower or upper",
    "equals-needs-value": "an equals filter needs a non-null matchValue",
    "in-filter-values": "an in filter needs its column and its values",
    "like-escape": "a like filter's escape is a single character",
    "interval-filter-intervals": "an interval filter needs at least one interval",
    "transform-name-unique": "transform names must be unique",
    "local-source-files": "a local input source needs baseDir (with filter) or files",
    "http-uri-scheme": "http input source uris must be http or https",
    "cloud-source-location": "cloud input sources take exactly one of uris, prefixes, objects",
    "druid-source-interval-or-segments": "a druid input source takes interval or segments",
    "delimited-columns": "csv/tsv need columns or findColumnsFromHeader, delimiter-free",
}
"""The rules this module reports, with a one-line summary of each."""

# SimpleLongAggregatorFactory, SimpleDoubleAggregatorFactory and SimpleFloatAggregatorFactory:
# the sums, mins and maxes read either a column or an expression, never both nor neither.
_SIMPLE = (
    LongSumAggregator,
    DoubleSumAggregator,
    FloatSumAggregator,
    LongMinAggregator,
    LongMaxAggregator,
    DoubleMinAggregator,
    DoubleMaxAggregator,
    FloatMinAggregator,
    FloatMaxAggregator,
)
# HttpInputSourceConfig's default allowedProtocols; a cluster may widen it.
_HTTP_SCHEMES = ("http://", "https://")
_CLOUD = (S3InputSource, GoogleInputSource, AzureInputSource, AzureStorageInputSource)


def aggregator_errors(aggregators: Sequence[Aggregator], path: str) -> Iterator[SpecError]:
    """The preconditions every aggregator of a metricsSpec breaks."""
    for index, aggregator in enumerate(aggregators):
        yield from _aggregator(aggregator, f"{path}[{index}]", top=True)


def _aggregator(aggregator: Aggregator, path: str, *, top: bool) -> Iterator[SpecError]:
    if isinstance(aggregator, FilteredAggregator):
        if top and aggregator.name == "":
            yield _empty_name(path)
        yield from _aggregator(aggregator.aggregator, f"{path}.aggregator", top=False)
        yield from filter_errors(aggregator.filter, f"{path}.filter")
        return
    if top and getattr(aggregator, "name", None) == "":
        # DataSchema: "Encountered metric with null or empty name".
        yield _empty_name(path)
    if isinstance(aggregator, _SIMPLE) and given(aggregator.field_name) == given(
        aggregator.expression
    ):
        found = "both" if given(aggregator.field_name) else "neither"
        yield SpecError(
            f"a {tag_of(aggregator)} aggregator reads exactly one of fieldName and expression; "
            f"found {found}",
            path=f"{path}.fieldName",
            rule="aggregator-field-or-expression",
        )


def _empty_name(path: str) -> SpecError:
    return SpecError(
        "a metric's name may not be empty", path=f"{path}.name", rule="metric-name-empty"
    )


def filter_errors(value: Filter, path: str) -> Iterator[SpecError]:
    """The preconditions a filter, or any filter nested in it, breaks."""
    match value:
        case AndFilter() | OrFilter():
            # AndDimFilter / OrDimFilter: "operator requires at least one field".
            if not value.fields:
                yield SpecError(
                    f"an {tag_of(value)!r} filter needs at least one entry in fields",
                    path=f"{path}.fields",
                    rule="filter-needs-fields",
                )
            for index, field in enumerate(value.fields):
                yield from filter_errors(field, f"{path}.fields[{index}]")
        case NotFilter():
            yield from filter_errors(value.field, f"{path}.field")
        case BoundFilter() | RangeFilter():
            # BoundDimFilter / RangeFilter: "lower and upper can not be null at the same time".
            if not given(value.lower) and not given(value.upper):
                yield SpecError(
                    f"a {tag_of(value)!r} filter needs lower, upper or both",
                    path=f"{path}.lower",
                    rule="filter-needs-bound",
                )
        case EqualsFilter():
            # EqualityFilter: "matchValue cannot be null".
            if value.match_value is None:
                yield SpecError(
                    "an 'equals' filter needs a non-null matchValue (use a 'null' filter to "
                    "match nulls)",
                    path=f"{path}.matchValue",
                    rule="equals-needs-value",
                )
        case InFilter():
            yield from _in_filter(value, path)
        case LikeFilter():
            # LikeDimFilter: "Escape must be null or a single character".
            if isinstance(value.escape, str) and len(value.escape) != 1:
                yield SpecError(
                    f"escape is {value.escape!r}; it must be a single character or absent",
                    path=f"{path}.escape",
                    rule="like-escape",
                )
        case IntervalFilter():
            # IntervalDimFilter: "must specify at least one interval".
            if not value.intervals:
                yield SpecError(
                    "an 'interval' filter needs at least one interval",
                    path=f"{path}.intervals",
                    rule="interval-filter-intervals",
                )


def _in_filter(value: InFilter, path: str) -> Iterator[SpecError]:
    if given(value.column):
        return  # the typed form (TypedInFilter); its own checks are not modelled here
    if not given(value.dimension):
        yield SpecError(
            "an 'in' filter needs dimension (with values) or column (with sortedValues)",
            path=f"{path}.dimension",
            rule="in-filter-values",
        )
    elif not given(value.values):
        # InDimFilter: "values cannot be null".
        yield SpecError(
            "an 'in' filter on a dimension needs values (an empty list matches nothing)",
            path=f"{path}.values",
            rule="in-filter-values",
        )


def transform_errors(spec: TransformSpec, path: str) -> Iterator[SpecError]:
    """The preconditions a transformSpec (its transforms and its filter) breaks."""
    seen: set[str] = set()
    transforms = spec.transforms if isinstance(spec.transforms, list) else []
    for index, transform in enumerate(transforms):
        if not isinstance(transform, ExpressionTransform):
            continue
        # TransformSpec: "Transform name '%s' cannot be used twice".
        if transform.name in seen:
            yield SpecError(
                f"transform name {transform.name!r} is used twice",
                path=f"{path}.transforms[{index}].name",
                rule="transform-name-unique",
            )
        seen.add(transform.name)
    if spec.filter is not None and not isinstance(spec.filter, UnsetType):
        yield from filter_errors(spec.filter, f"{path}.filter")


def input_source_errors(source: InputSource, path: str) -> Iterator[SpecError]:
    """The preconditions an input source (or a delegate of a combining one) breaks."""
    match source:
        case LocalInputSource():
            yield from _local(source, path)
        case HttpInputSource():
            # HttpInputSource.throwIfInvalidProtocols, with the default allowedProtocols.
            for index, uri in enumerate(source.uris):
                if not uri.lower().startswith(_HTTP_SCHEMES):
                    yield SpecError(
                        f"uri {uri!r} is not http or https, the only protocols Druid allows "
                        "by default (druid.ingestion.http.allowedProtocols)",
                        path=f"{path}.uris[{index}]",
                        rule="http-uri-scheme",
                    )
        case S3InputSource() | GoogleInputSource() | AzureInputSource() | AzureStorageInputSource():
            yield from _cloud(source, path)
        case DruidInputSource():
            # DruidInputSource: "Specify exactly one of 'interval' and 'segments'".
            if given(source.interval) == given(source.segments):
                found = "both" if given(source.interval) else "neither"
                yield SpecError(
                    f"a druid input source takes exactly one of interval and segments; "
                    f"found {found}",
                    path=f"{path}.interval",
                    rule="druid-source-interval-or-segments",
                )
            if source.filter is not None and not isinstance(source.filter, UnsetType):
                yield from filter_errors(source.filter, f"{path}.filter")
        case CombiningInputSource():
            for index, delegate in enumerate(source.delegates):
                yield from input_source_errors(delegate, f"{path}.delegates[{index}]")


def _local(source: LocalInputSource, path: str) -> Iterator[SpecError]:
    # LocalInputSource: filter is required with baseDir, and one of baseDir or files is.
    if given(source.base_dir) and not given(source.filter):
        yield SpecError(
            'a local input source with baseDir needs filter (such as "*")',
            path=f"{path}.filter",
            rule="local-source-files",
        )
    if not given(source.base_dir) and not source.files:
        yield SpecError(
            "a local input source needs baseDir (with filter) or a non-empty files list",
            path=f"{path}.baseDir",
            rule="local-source-files",
        )


def _cloud(
    source: S3InputSource | GoogleInputSource | AzureInputSource | AzureStorageInputSource,
    path: str,
) -> Iterator[SpecError]:
    # CloudObjectInputSource: "Exactly one of uris, prefixes or objects must be specified"
    # (an empty list counts as not specified).
    present = [
        key
        for key, value in (
            ("uris", source.uris),
            ("prefixes", source.prefixes),
            ("objects", source.objects),
        )
        if isinstance(value, list) and value
    ]
    if len(present) != 1:
        found = ", ".join(present) if present else "none"
        yield SpecError(
            f"a {tag_of(source)!r} input source takes exactly one non-empty list of uris, "
            f"prefixes and objects; found {found}",
            path=f"{path}.{present[1] if len(present) > 1 else 'uris'}",
            rule="cloud-source-location",
        )


def input_format_errors(value: InputFormat, path: str) -> Iterator[SpecError]:
    """The preconditions an input format (or the value format of a kafka/kinesis one) breaks."""
    match value:
        case CsvFormat() | TsvFormat():
            yield from _delimited(value, path)
        case KafkaFormat():
            yield from input_format_errors(value.value_format, f"{path}.valueFormat")
            if value.key_format is not None and not isinstance(value.key_format, UnsetType):
                yield from input_format_errors(value.key_format, f"{path}.keyFormat")
        case KinesisFormat():
            yield from input_format_errors(value.value_format, f"{path}.valueFormat")


def _delimited(value: CsvFormat | TsvFormat, path: str) -> Iterator[SpecError]:
    # FlatTextInputFormat's constructor, shared by CsvInputFormat and DelimitedInputFormat.
    delimiter = "," if isinstance(value, CsvFormat) else value.delimiter
    if not isinstance(delimiter, str):
        delimiter = "\t"
    columns = value.columns if isinstance(value.columns, list) else []
    header = value.has_header_row
    find = value.find_columns_from_header
    if isinstance(value.list_delimiter, str) and value.list_delimiter == delimiter:
        yield SpecError(
            f"listDelimiter is the same as the delimiter {delimiter!r}",
            path=f"{path}.listDelimiter",
            rule="delimited-columns",
        )
    if columns:
        for index, column in enumerate(columns):
            if delimiter in column:
                yield SpecError(
                    f"column {column!r} contains the delimiter {delimiter!r}",
                    path=f"{path}.columns[{index}]",
                    rule="delimited-columns",
                )
        return
    if given(header) and given(find):
        yield SpecError(
            "without columns, give findColumnsFromHeader or its old name hasHeaderRow, not both",
            path=f"{path}.hasHeaderRow",
            rule="delimited-columns",
        )
    elif (header if given(header) else find) is not True:
        yield SpecError(
            "without columns, the first row must be the header: set findColumnsFromHeader: true",
            path=f"{path}.findColumnsFromHeader",
            rule="delimited-columns",
        )
