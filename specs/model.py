"""msgspec models of Druid ingestion specs, and the functions that validate them.

The public face of the spec models; the definitions live in smaller modules:

* `specs.druid.documents`: the top-level task and supervisor documents (`Spec`);
* `specs.druid.schema`, `specs.druid.aggregators`, `specs.druid.filters`: `dataSchema` and
  what it holds;
* `specs.druid.inputs`: input sources, input formats and flattenSpec;
* `specs.druid.tuning`: partitionsSpec and tuningConfig;
* `specs.druid.base`: `SpecBase`, `Opt`/`UNSET`, and the `Extension` passthrough;
* `specs.druid.rules` and `specs.druid.partitioning`: Druid's cross-field rules;
* `specs.druid.validation`: decode, check and encode.

    spec = validate_spec(json_bytes_or_dict)    # typed model, or SpecError(.path, .rule)
    payload = encode_spec(spec)                 # the JSON it came from, semantically equal
"""

from __future__ import annotations

from specs.druid.aggregators import Aggregator
from specs.druid.base import UNSET, Extension, Opt, SpecBase, given, value_or
from specs.druid.documents import (
    SUPERVISOR_TYPES,
    TASK_TYPES,
    BatchIOConfig,
    CompactTask,
    IndexParallelTask,
    IndexTask,
    KafkaIOConfig,
    KafkaSupervisor,
    KillTask,
    KinesisIOConfig,
    KinesisSupervisor,
    Spec,
    Supervisor,
)
from specs.druid.filters import Filter
from specs.druid.inputs import FlattenSpec, InputFormat, InputSource
from specs.druid.rules import RULES, check_rules
from specs.druid.schema import (
    DataSchema,
    DimensionsSpec,
    GranularitySpec,
    TimestampSpec,
    TransformSpec,
)
from specs.druid.tuning import (
    DynamicPartitionsSpec,
    HashedPartitionsSpec,
    IndexTuningConfig,
    ParallelTuningConfig,
    PartitionsSpec,
    RangePartitionsSpec,
    SingleDimPartitionsSpec,
    StreamTuningConfig,
)
from specs.druid.validation import (
    check_spec,
    decode_spec,
    decode_task,
    encode_spec,
    encode_task,
    validate_spec,
)

__all__ = [
    "RULES",
    "SUPERVISOR_TYPES",
    "TASK_TYPES",
    "UNSET",
    "Aggregator",
    "BatchIOConfig",
    "CompactTask",
    "DataSchema",
    "DimensionsSpec",
    "DynamicPartitionsSpec",
    "Extension",
    "Filter",
    "FlattenSpec",
    "GranularitySpec",
    "HashedPartitionsSpec",
    "IndexParallelTask",
    "IndexTask",
    "IndexTuningConfig",
    "InputFormat",
    "InputSource",
    "KafkaIOConfig",
    "KafkaSupervisor",
    "KillTask",
    "KinesisIOConfig",
    "KinesisSupervisor",
    "Opt",
    "ParallelTuningConfig",
    "PartitionsSpec",
    "RangePartitionsSpec",
    "SingleDimPartitionsSpec",
    "Spec",
    "SpecBase",
    "StreamTuningConfig",
    "Supervisor",
    "TimestampSpec",
    "TransformSpec",
    "check_rules",
    "check_spec",
    "decode_spec",
    "decode_task",
    "encode_spec",
    "encode_task",
    "given",
    "validate_spec",
    "value_or",
]
