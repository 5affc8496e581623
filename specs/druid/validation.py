"""Validate a task or supervisor spec: decode strictly, check Druid's rules, encode back.

    spec = validate_spec(raw)          # the typed model, or SpecError(path, rule)
    errors = check_spec(raw)           # every error at once (for `druid-orch validate`)
    payload = encode_spec(spec)        # JSON-ready dict, equal to the input it came from

Decoding stops at the first schema error (msgspec's behaviour); the cross-field rules run only
on a spec that decoded, and all of them are reported.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
import msgspec.inspect as mi

from specs.druid.documents import (
    SUPERVISOR_TYPES,
    TASK_TYPES,
    CompactTask,
    IndexParallelTask,
    Spec,
)
from specs.druid.passthrough import unwrap_extensions, wrap_extensions
from specs.druid.rules import check_rules
from specs.errors import SpecError, from_validation_error

__all__ = [
    "check_spec",
    "decode_spec",
    "decode_task",
    "encode_spec",
    "encode_task",
    "validate_spec",
]

RawSpec = bytes | bytearray | str | dict[str, Any]

_BAD_TAG = re.compile(r"^Invalid value '(?P<tag>[^']*)'$")


def decode_spec(raw: RawSpec) -> Spec:
    """Decode a spec strictly (no cross-field rules).

    Raises:
        SpecError: not JSON, not an object, or a field that is unknown, missing or mistyped.
    """
    if isinstance(raw, bytes | bytearray | str):
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise SpecError(f"not valid JSON: {exc}", rule="json") from exc
    else:
        data = raw
    try:
        spec: Spec = msgspec.convert(wrap_extensions(data, Spec), Spec)
    except msgspec.ValidationError as exc:
        raise _schema_error(exc) from exc
    return spec


def check_spec(raw: RawSpec) -> list[SpecError]:
    """Every problem with a spec: its schema error, or all the rules it breaks."""
    try:
        spec = decode_spec(raw)
    except SpecError as exc:
        return [exc]
    return check_rules(spec)


def validate_spec(raw: RawSpec) -> Spec:
    """Decode a task or supervisor spec and check Druid's rules.

    Returns:
        The typed spec (`IndexParallelTask`, `KafkaSupervisor`, ...).

    Raises:
        SpecError: the first problem found, with its JSON `path` and `rule`.
    """
    spec = decode_spec(raw)
    errors = check_rules(spec)
    if errors:
        raise errors[0]
    return spec


def encode_spec(spec: Spec) -> dict[str, Any]:
    """The spec as JSON-ready builtins, extension objects restored verbatim."""
    result: dict[str, Any] = unwrap_extensions(msgspec.to_builtins(spec))
    return result


def decode_task(raw: RawSpec) -> IndexParallelTask | CompactTask:
    """Validate a task spec the orchestrator runs as a job: `index_parallel` (what the
    pipeline compiler produces) or `compact` (what the compaction compiler produces).

    Raises:
        SpecError: the spec is invalid, or is a valid spec of another type.
    """
    spec = validate_spec(raw)
    if not isinstance(spec, IndexParallelTask | CompactTask):
        kind = type(spec).__struct_config__.tag
        raise SpecError(
            f"expected an index_parallel or compact task, got {kind!r}",
            path="$.type",
            rule="task-type",
        )
    return spec


def encode_task(task: IndexParallelTask | CompactTask) -> dict[str, Any]:
    """`encode_spec` for a task `decode_task` accepts."""
    return encode_spec(task)


def _schema_error(exc: msgspec.ValidationError) -> SpecError:
    error = from_validation_error(exc, known_fields=_field_names())
    if error.rule == "unknown-field":
        # Druid ignores unknown keys, which is why a typo there goes unnoticed until the data
        # comes out wrong.
        return SpecError(
            f"{error.detail}, and Druid would ignore it without a word",
            path=error.path,
            rule=error.rule,
        )
    bad = _BAD_TAG.match(error.detail)
    if bad and error.path.endswith(".type"):
        if error.path == "$.type":
            known = ", ".join((*TASK_TYPES, *SUPERVISOR_TYPES))
            detail = f"unknown task or supervisor type {bad['tag']!r}; expected one of {known}"
        else:
            detail = f"type {bad['tag']!r} is not one of the types allowed here"
        return SpecError(detail, path=error.path, rule="unknown-type")
    return error


@functools.cache
def _field_names() -> tuple[str, ...]:
    """Every JSON key the model knows, for "did you mean" hints."""
    names: set[str] = set()
    seen: set[int] = set()
    pending: list[mi.Type] = [mi.type_info(Spec)]
    while pending:
        info = pending.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        if isinstance(info, mi.StructType):
            for field in info.fields:
                names.add(field.encode_name)
                pending.append(field.type)
        elif isinstance(info, mi.UnionType):
            pending.extend(info.types)
        elif isinstance(info, mi.CollectionType):
            pending.append(info.item_type)
        elif isinstance(info, mi.DictType):
            pending.append(info.value_type)
        elif isinstance(info, mi.Metadata):
            pending.append(info.type)
    return tuple(sorted(names))
