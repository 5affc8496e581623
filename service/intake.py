"""Intake: what users hand us (a Druid task spec, or a pipeline template plus intervals)
turned into `CompiledJob`s, the one shape the orchestrator accepts.

The API, the CLI and the daemon share this, so a job submitted by any of them gets the same
deterministic id: submitting the same spec again, from anywhere, is the same job.

A raw spec's job id follows the compiler's scheme (`<prefix>_<datasource>_<start>_<end>_
<hash12>`), with the interval covering every `granularitySpec.intervals` entry; its `id`
field is ignored, since every attempt gets its own deterministic Druid task id.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from eventlog.events import spec_raw
from specs.compiler import (
    CompiledJob,
    PipelineTemplate,
    compile_range,
    job_id_for,
    load_template,
    spec_hash,
)
from specs.errors import SpecError
from specs.intervals import Interval

DEFAULT_MAX_ATTEMPTS = 3


class SubmitRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of `POST /v1/jobs`: a task spec, or a pipeline template and intervals."""

    spec: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    intervals: list[str] = []
    name: str | None = None  # where it came from (a file name), recorded as the pipeline
    max_attempts: int | None = None
    task_id_prefix: str = "orch"


def jobs_from_request(request: SubmitRequest) -> list[CompiledJob]:
    """Compile one request into its jobs.

    Raises:
        SpecError: naming the JSON path and rule that failed.
    """
    if (request.spec is None) == (request.template is None):
        raise SpecError("give exactly one of `spec` and `template`", rule="request")
    if request.spec is not None:
        if request.intervals:
            raise SpecError(
                "`intervals` go with a template; a spec carries its own in "
                "granularitySpec.intervals",
                path="$.intervals",
                rule="request",
            )
        return [
            job_from_spec(
                request.spec,
                prefix=request.task_id_prefix,
                max_attempts=request.max_attempts or DEFAULT_MAX_ATTEMPTS,
                name=request.name,
            )
        ]
    assert request.template is not None
    template = _template(request.template, request.name)
    if not request.intervals:
        raise SpecError(
            "a template needs at least one interval", path="$.intervals", rule="request"
        )
    jobs: list[CompiledJob] = []
    for text in request.intervals:
        jobs.extend(compile_range(template, Interval.parse(text)))
    if request.max_attempts is not None:
        jobs = [msgspec.structs.replace(j, max_attempts=request.max_attempts) for j in jobs]
    return jobs


def _template(data: dict[str, Any], name: str | None) -> PipelineTemplate:
    body = data.get("pipeline", data)
    try:
        return msgspec.convert(body, PipelineTemplate)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at `")
        if not message:
            message, path = str(exc), "$`"
        raise SpecError(message, path=path.rstrip("`"), source=name or "", rule="template") from exc


def job_from_spec(
    spec: dict[str, Any],
    *,
    prefix: str = "orch",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    name: str | None = None,
) -> CompiledJob:
    """A job for one validated `index_parallel` task spec."""
    try:
        task = _validated({k: v for k, v in spec.items() if k != "id"})
    except SpecError as exc:
        if name:
            raise exc.with_source(name) from exc
        raise
    schema = task["spec"]["dataSchema"]
    parsed = [Interval.parse(t) for t in job_intervals(task, name)]
    covering = Interval(min(i.start for i in parsed), max(i.end for i in parsed))
    digest = spec_hash(task)
    return CompiledJob(
        job_id=job_id_for(prefix, schema["dataSource"], covering, digest),
        datasource=schema["dataSource"],
        interval=str(covering),
        spec_json=spec_raw(task),
        spec_hash=digest,
        max_attempts=max_attempts,
        pipeline=name or "spec",
    )


def job_intervals(task: dict[str, Any], name: str | None = None) -> list[str]:
    """The `granularitySpec.intervals` of a valid `index_parallel` spec, which a job needs.

    Druid accepts a spec without them (it finds the intervals in the data), but a job's id
    is derived from them, so `submit` refuses such a spec and `validate` warns about it.

    Raises:
        SpecError: rule `job-needs-intervals`, when the spec has none.
    """
    schema = task["spec"]["dataSchema"]
    texts: list[str] = (schema.get("granularitySpec") or {}).get("intervals") or []
    if not texts:
        raise SpecError(
            "a spec submitted as a job needs granularitySpec.intervals (the job's identity)",
            path="$.spec.dataSchema.granularitySpec.intervals",
            rule="job-needs-intervals",
            source=name or "",
        )
    return texts


def _validated(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec decoded, checked and re-encoded (canonical) by the specs room's validator.

    The validator is moving from `specs.model` to `specs.druid.validation`; it is looked up in
    both, so intake works with either layout of the specs room.
    """
    for name in ("specs.druid.validation", "specs.model"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        decode, encode = getattr(module, "decode_task", None), getattr(module, "encode_task", None)
        if decode is not None and encode is not None:
            encoded: dict[str, Any] = encode(decode(spec))
            return encoded
    raise ImportError("specs has no decode_task/encode_task validator")


def request_from_file(path: str | Path, intervals: Sequence[str]) -> SubmitRequest:
    """Read a spec (`.json`) or a pipeline template (`.toml`) from a file.

    Raises:
        SpecError: the file cannot be read or parsed (the message names it).
    """
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", source=source, rule="io") from exc
    name = Path(path).name
    if source.endswith(".toml"):
        load_template(source, text=text)  # validates, with errors naming the file
        data = tomllib.loads(text)
        return SubmitRequest(template=data, intervals=list(intervals), name=name)
    try:
        spec = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise SpecError(f"not valid JSON: {exc}", source=source, rule="json") from exc
    if not isinstance(spec, dict):
        raise SpecError("a task spec must be a JSON object", source=source, rule="json")
    if intervals:
        raise SpecError(
            "--interval applies to pipeline templates (.toml); a spec carries its own intervals",
            source=source,
            rule="request",
        )
    return SubmitRequest(spec=spec, name=name)
