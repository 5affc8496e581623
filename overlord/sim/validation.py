"""What the simulated Overlord refuses at `POST /task`, with Druid's own 400 messages.

Druid deserialises the task with Jackson and runs the task constructors; failures come back as
400 `{"error": "<first line of the message>"}` (REFERENCE.md §2.2, §3.1, §11). Unknown keys are
ignored, as Druid ignores them.
"""

from __future__ import annotations

from typing import Any

import msgspec

KNOWN_TASK_TYPES = (
    "archive",
    "compact",
    "index",
    "index_parallel",
    "kill",
    "move",
    "noop",
    "restore",
)
_TASK_CLASSES = {
    "index_parallel": "org.apache.druid.indexing.common.task.batch.parallel."
    "ParallelIndexSupervisorTask",
    "index": "org.apache.druid.indexing.common.task.IndexTask",
    "compact": "org.apache.druid.indexing.common.task.CompactionTask",
}


class SubmitRejection(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def _construct_error(task_type: str, problem: str) -> SubmitRejection:
    cls = _TASK_CLASSES.get(task_type, "org.apache.druid.indexing.common.task.Task")
    return SubmitRejection(f"Cannot construct instance of `{cls}`, problem: {problem}")


def id_problem(task_id: str) -> str | None:
    """Druid's IdUtils.validateId message for a bad id, or None if the id is fine."""
    prefix = f"Invalid value for field [task ID]: Value [{task_id}]"
    if not task_id:
        return "Invalid value for field [task ID]: must not be null"
    if task_id.startswith("."):
        return f"{prefix} cannot start with '.'."
    if "/" in task_id:
        return f"{prefix} cannot contain '/'."
    for i, ch in enumerate(task_id):
        if ch.isspace() and ch != " ":
            return f"{prefix} contains illegal whitespace characters.  Only space is allowed."
        code = ord(ch)
        if (
            1 <= code <= 30
            or 128 <= code <= 158
            or 0xD801 <= code <= 0xF8FE
            or 0xFFF1 <= code <= 0xFFFE
        ):
            return f"{prefix} contains illegal UTF8 character [#{code}] at position [{i}]"
    return None


def validate_submission(raw: bytes, druid_version: int) -> tuple[str | None, dict[str, Any], str]:
    """Return (client id or None, payload, datasource), or raise SubmitRejection."""
    try:
        payload = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise SubmitRejection(f"Unexpected character in JSON body: {exc}") from exc
    if not isinstance(payload, dict):
        raise SubmitRejection(
            "Cannot deserialize value of type `org.apache.druid.indexing.common.task.Task` "
            "from non-object value"
        )
    task_type = payload.get("type")
    if task_type is None:
        raise SubmitRejection(
            "Could not resolve subtype of [simple type, class org.apache.druid.indexing."
            "common.task.Task]: missing type id property 'type'"
        )
    if task_type not in KNOWN_TASK_TYPES:
        raise SubmitRejection(
            f"Please make sure to load all the necessary extensions and jars with type "
            f"'{task_type}' on 'druid/overlord' service. Could not resolve type id "
            f"'{task_type}' as a subtype of `org.apache.druid.indexing.common.task.Task` "
            f"known type ids = [{', '.join(KNOWN_TASK_TYPES)}]"
        )
    task_id = payload.get("id")
    if task_id is not None:
        if not isinstance(task_id, str):
            raise SubmitRejection("Cannot deserialize value of type `java.lang.String`")
        problem = id_problem(task_id)
        if problem:
            raise _construct_error(str(task_type), problem)
    datasource = _check_spec(payload, str(task_type), druid_version)
    return task_id, payload, datasource


def _check_spec(payload: dict[str, Any], task_type: str, druid_version: int) -> str:
    if task_type == "noop":
        return str(payload.get("dataSource") or "none")  # NoopTask's default datasource
    if task_type not in ("index", "index_parallel"):
        ds = payload.get("dataSource") or (payload.get("spec") or {}).get("dataSchema", {}).get(
            "dataSource"
        )
        if not ds:
            raise _construct_error(task_type, "dataSource cannot be null or empty")
        return str(ds)
    spec = payload.get("spec")
    if not isinstance(spec, dict):
        raise _construct_error(task_type, "spec cannot be null")
    schema = spec.get("dataSchema")
    if not isinstance(schema, dict) or not schema.get("dataSource"):
        raise SubmitRejection(
            "Cannot construct instance of `org.apache.druid.segment.indexing.DataSchema`, "
            "problem: Invalid value for field [dataSource]: must not be null"
        )
    if druid_version >= 37 and schema.get("parser") is not None:
        raise SubmitRejection(
            "Cannot construct instance of `org.apache.druid.segment.indexing.DataSchema`, "
            "problem: parser was removed in Druid 37, define the timestampSpec and "
            "dimensionsSpec on the schema directly instead of nested inside the parser definition"
        )
    io_config = spec.get("ioConfig") or {}
    tuning = spec.get("tuningConfig") or {}
    for section, value in (("ioConfig", io_config), ("tuningConfig", tuning)):
        inner = value.get("type") if isinstance(value, dict) else None
        if inner is not None and inner != task_type:
            raise _construct_error(
                task_type, f"{section} type [{inner}] does not match task type [{task_type}]"
            )
    partitions = (tuning.get("partitionsSpec") or {}).get("type", "dynamic")
    guaranteed = bool(tuning.get("forceGuaranteedRollup", False))
    if partitions != "dynamic" and not guaranteed:
        raise _construct_error(
            task_type, "DynamicPartitionsSpec must be used for best-effort rollup"
        )
    if partitions == "dynamic" and guaranteed:
        raise _construct_error(task_type, "DynamicPartitionsSpec cannot be used for perfect rollup")
    intervals = (schema.get("granularitySpec") or {}).get("intervals")
    if io_config.get("dropExisting") and not io_config.get("appendToExisting") and not intervals:
        raise _construct_error(
            task_type, "GranularitySpec's intervals cannot be empty when using replace."
        )
    return str(schema["dataSource"])
