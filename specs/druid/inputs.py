"""Where rows come from and how they are parsed: input sources, input formats, flattenSpec.

The core input sources and formats are modelled, including the common ones that Druid ships as
extensions (s3, google, azure, hdfs, sql, parquet, orc, avro, protobuf, kafka, kinesis). Any
other `type` passes through as an `Extension`. Connection details that vary by driver or
cloud SDK (`database`, `properties`, decoders...) stay plain mappings.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from msgspec import Meta

from specs.druid.base import UNSET, Extension, Opt, SpecBase
from specs.druid.filters import Filter

__all__ = ["FlattenSpec", "InputFormat", "InputSource"]

NonEmpty = Annotated[str, Meta(min_length=1)]
SystemFields = Opt[list[str]]


# --- input sources -------------------------------------------------------------------------


class _Source(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    pass


class LocalInputSource(_Source, frozen=True, kw_only=True, tag="local"):
    base_dir: Opt[str] = UNSET
    filter: Opt[str] = UNSET
    files: Opt[list[str]] = UNSET
    system_fields: SystemFields = UNSET


class HttpInputSource(_Source, frozen=True, kw_only=True, tag="http"):
    uris: Annotated[list[NonEmpty], Meta(min_length=1)]
    http_authentication_username: Opt[str] = UNSET
    http_authentication_password: Opt[str | dict[str, Any]] = UNSET
    request_headers: Opt[dict[str, str]] = UNSET
    system_fields: SystemFields = UNSET


class InlineInputSource(_Source, frozen=True, kw_only=True, tag="inline"):
    data: str


class CloudObject(SpecBase, frozen=True, kw_only=True):
    bucket: str
    path: str


class _CloudSource(_Source, frozen=True, kw_only=True):
    uris: Opt[list[str]] = UNSET
    prefixes: Opt[list[str]] = UNSET
    objects: Opt[list[CloudObject]] = UNSET
    object_glob: Opt[str] = UNSET
    properties: Opt[dict[str, Any]] = UNSET
    system_fields: SystemFields = UNSET


class S3InputSource(_CloudSource, frozen=True, kw_only=True, tag="s3"):
    endpoint_config: Opt[dict[str, Any]] = UNSET
    client_config: Opt[dict[str, Any]] = UNSET
    proxy_config: Opt[dict[str, Any]] = UNSET


class GoogleInputSource(_CloudSource, frozen=True, kw_only=True, tag="google"):
    pass


class AzureInputSource(_CloudSource, frozen=True, kw_only=True, tag="azure"):
    pass


class AzureStorageInputSource(_CloudSource, frozen=True, kw_only=True, tag="azureStorage"):
    pass


class HdfsInputSource(_Source, frozen=True, kw_only=True, tag="hdfs"):
    paths: str | list[str]
    system_fields: SystemFields = UNSET


class DruidInputSource(_Source, frozen=True, kw_only=True, tag="druid"):
    """Reindexing: read the segments of an existing datasource."""

    data_source: NonEmpty
    interval: Opt[str] = UNSET
    segments: Opt[list[dict[str, Any]]] = UNSET
    filter: Opt[Filter] = UNSET
    dimensions: Opt[list[str]] = UNSET
    metrics: Opt[list[str]] = UNSET


class SqlInputSource(_Source, frozen=True, kw_only=True, tag="sql"):
    database: dict[str, Any]
    sqls: Annotated[list[NonEmpty], Meta(min_length=1)]
    fold_case: Opt[bool] = UNSET


class CombiningInputSource(_Source, frozen=True, kw_only=True, tag="combining"):
    delegates: Annotated[list[InputSource], Meta(min_length=1)]


InputSource = Union[  # noqa: UP007 - recursive through `combining`
    LocalInputSource,
    HttpInputSource,
    InlineInputSource,
    S3InputSource,
    GoogleInputSource,
    AzureInputSource,
    AzureStorageInputSource,
    HdfsInputSource,
    DruidInputSource,
    SqlInputSource,
    CombiningInputSource,
    Extension,
]
"""Where a batch task reads its rows."""


# --- flattenSpec and input formats ----------------------------------------------------------


class _FlattenField(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    name: NonEmpty


class RootField(_FlattenField, frozen=True, kw_only=True, tag="root"):
    pass


class PathField(_FlattenField, frozen=True, kw_only=True, tag="path"):
    expr: str


class JqField(_FlattenField, frozen=True, kw_only=True, tag="jq"):
    expr: str


class TreeField(_FlattenField, frozen=True, kw_only=True, tag="tree"):
    nodes: list[str]


class FlattenSpec(SpecBase, frozen=True, kw_only=True):
    use_field_discovery: Opt[bool] = UNSET
    fields: Opt[list[RootField | PathField | JqField | TreeField]] = UNSET


class _Format(SpecBase, frozen=True, kw_only=True, tag_field="type"):
    pass


class JsonFormat(_Format, frozen=True, kw_only=True, tag="json"):
    flatten_spec: Opt[FlattenSpec] = UNSET
    feature_spec: Opt[dict[str, bool]] = UNSET
    keep_null_columns: Opt[bool] = UNSET
    assume_newline_delimited: Opt[bool] = UNSET
    use_json_node_reader: Opt[bool] = UNSET


class _Delimited(_Format, frozen=True, kw_only=True):
    columns: Opt[list[str]] = UNSET
    list_delimiter: Opt[str] = UNSET
    find_columns_from_header: Opt[bool] = UNSET
    has_header_row: Opt[bool] = UNSET
    skip_header_rows: Opt[int] = UNSET  # FlatTextInputFormat takes any int
    try_parse_numbers: Opt[bool] = UNSET


class CsvFormat(_Delimited, frozen=True, kw_only=True, tag="csv"):
    pass


class TsvFormat(_Delimited, frozen=True, kw_only=True, tag="tsv"):
    delimiter: Opt[str] = UNSET


class RegexFormat(_Format, frozen=True, kw_only=True, tag="regex"):
    pattern: str
    list_delimiter: Opt[str] = UNSET
    columns: Opt[list[str]] = UNSET


class _Columnar(_Format, frozen=True, kw_only=True):
    flatten_spec: Opt[FlattenSpec] = UNSET
    binary_as_string: Opt[bool] = UNSET


class ParquetFormat(_Columnar, frozen=True, kw_only=True, tag="parquet"):
    pass


class OrcFormat(_Columnar, frozen=True, kw_only=True, tag="orc"):
    pass


class AvroOcfFormat(_Columnar, frozen=True, kw_only=True, tag="avro_ocf"):
    schema: Opt[dict[str, Any]] = UNSET
    extract_union_by_type: Opt[bool] = UNSET


class AvroStreamFormat(_Columnar, frozen=True, kw_only=True, tag="avro_stream"):
    avro_bytes_decoder: dict[str, Any]
    extract_union_by_type: Opt[bool] = UNSET


class ProtobufFormat(_Columnar, frozen=True, kw_only=True, tag="protobuf"):
    proto_bytes_decoder: dict[str, Any]


class KafkaFormat(_Format, frozen=True, kw_only=True, tag="kafka"):
    """Kafka records: value, plus optional key, headers and record metadata columns."""

    value_format: InputFormat
    key_format: Opt[InputFormat] = UNSET
    header_format: Opt[dict[str, Any]] = UNSET
    header_column_prefix: Opt[str] = UNSET
    key_column_name: Opt[str] = UNSET
    timestamp_column_name: Opt[str] = UNSET
    topic_column_name: Opt[str] = UNSET


class KinesisFormat(_Format, frozen=True, kw_only=True, tag="kinesis"):
    """Kinesis records: value, plus the partition key and arrival time columns."""

    value_format: InputFormat
    partition_key_column_name: Opt[str] = UNSET
    timestamp_column_name: Opt[str] = UNSET


InputFormat = Union[  # noqa: UP007 - recursive through kafka/kinesis
    JsonFormat,
    CsvFormat,
    TsvFormat,
    RegexFormat,
    ParquetFormat,
    OrcFormat,
    AvroOcfFormat,
    AvroStreamFormat,
    ProtobufFormat,
    KafkaFormat,
    KinesisFormat,
    Extension,
]
"""How rows are parsed from the bytes an input source reads."""
