"""Intake: what users hand us (a Druid task spec, or a pipeline template plus intervals)
turned into `CompiledJob`s, the one shape the orchestrator accepts.

Compaction comes three ways: a template with `kind = "compact"` (its `[pipeline.compaction]`
section, or the defaults), a `compaction` object for a datasource without a template (the
keys of `specs.compaction.DatasourceCompaction`), or a raw `compact` task spec. The compaction
keys' `skip_offset_from_latest` is applied against the time of the request.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from eventlog.events import spec_raw
from service.limits import (
    BoundExceededError,
    LimitsSection,
    check_depth,
    check_job_count,
    too_many_jobs,
)
from specs.compaction import DatasourceCompaction, compile_compaction, compile_datasource_compaction
from specs.compiler import (
    CompiledJob,
    PipelineTemplate,
    compile_range,
    job_id_for,
    load_template,
    spec_hash,
)
from specs.errors import SpecError, from_validation_error
from specs.intervals import Interval
from specs.sections import check_chunk
from specs.template import check_template
from specs.text import read_spec_text

DEFAULT_MAX_ATTEMPTS = 3


class SubmitRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of `POST /v1/jobs`: a task spec, a pipeline template and intervals, or a
    compaction of a datasource without a template and intervals."""

    spec: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    compaction: dict[str, Any] | None = None
    kind: Literal["ingest", "compact"] = "ingest"  # what to run from the template
    intervals: list[str] = []
    name: str | None = None  # where it came from (a file name), recorded as the pipeline
    max_attempts: int | None = None
    task_id_prefix: str = "orch"


def jobs_from_request(
    request: SubmitRequest,
    *,
    now: datetime | None = None,
    limits: LimitsSection = LimitsSection(),
) -> list[CompiledJob]:
    """Compile one request into its jobs.

    Args:
        request: the request.
        now: the time compaction's `skip_offset_from_latest` counts back from (default: now).
        limits: the bounds on jobs per submission and `max_attempts`.

    Raises:
        SpecError: naming the JSON path and rule that failed.
        BoundExceededError: the request is over a bound of `limits` (nothing compiled).
    """
    _check_max_attempts(request.max_attempts, limits)
    given = [request.spec, request.template, request.compaction]
    if sum(part is not None for part in given) != 1:
        raise SpecError("give exactly one of `spec`, `template` and `compaction`", rule="request")
    if request.kind == "compact" and request.template is None:
        raise SpecError(
            '`kind = "compact"` goes with a template; a compaction object or a compact '
            "spec says it already",
            path="$.kind",
            rule="request",
        )
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
    if not request.intervals:
        what = "a template" if request.template is not None else "a compaction"
        raise SpecError(f"{what} needs at least one interval", path="$.intervals", rule="request")
    moment = now or datetime.now(UTC)
    jobs: list[CompiledJob] = []
    if len(request.intervals) > limits.max_jobs_per_submission:  # each is one job or more
        raise too_many_jobs(limits.max_jobs_per_submission)
    intervals = [Interval.parse(text) for text in request.intervals]
    if request.compaction is not None:
        compaction = _compaction(request)
        chunk = compaction.chunk or "DAY"
        try:
            check_chunk(chunk, "$.chunk")  # before counting by it
        except SpecError as exc:
            raise _in_compaction(exc) from exc
        check_job_count(intervals, chunk, limits.max_jobs_per_submission)
        for text in request.intervals:
            interval = Interval.parse(text)
            try:
                jobs.extend(
                    compile_datasource_compaction(
                        compaction, interval, now=moment, name=request.name
                    )
                )
            except SpecError as exc:
                raise _in_compaction(exc) from exc
    else:
        assert request.template is not None
        template = _template(request.template, request.name)
        compaction_chunk = template.compaction.chunk if template.compaction else None
        chunk = (compaction_chunk if request.kind == "compact" else None) or template.chunk
        check_job_count(intervals, chunk, limits.max_jobs_per_submission)
        for text in request.intervals:
            interval = Interval.parse(text)
            if request.kind == "compact":
                jobs.extend(compile_compaction(template, interval, now=moment))
            else:
                jobs.extend(compile_range(template, interval))
    if request.max_attempts is not None:
        jobs = [msgspec.structs.replace(j, max_attempts=request.max_attempts) for j in jobs]
    return jobs


def _check_max_attempts(given: int | None, limits: LimitsSection) -> None:
    if given is not None and not 1 <= given <= limits.max_attempts:
        raise BoundExceededError(
            f"max_attempts must be between 1 and {limits.max_attempts}, not {given}",
            key="max_attempts",
            path="$.max_attempts",
        )


def _template(data: dict[str, Any], name: str | None) -> PipelineTemplate:
    body = data.get("pipeline", data)
    try:
        template = msgspec.convert(body, PipelineTemplate)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).rpartition(" - at `")
        if not message:
            message, path = str(exc), "$`"
        raise SpecError(message, path=path.rstrip("`"), source=name or "", rule="template") from exc
    try:
        check_template(template)  # what the types cannot say (the stream's keys, chunks...)
    except SpecError as exc:
        raise exc.with_source(name or "") from exc
    return template


def _in_compaction(exc: SpecError) -> SpecError:
    """An error of a compaction object re-addressed to where it sits in the request."""
    path = "$.intervals" if exc.path == "$.interval" else "$.compaction" + exc.path[1:]
    return SpecError(exc.detail, path=path, rule=exc.rule, source=exc.source)


def _compaction(request: SubmitRequest) -> DatasourceCompaction:
    data = {"task_id_prefix": request.task_id_prefix, **(request.compaction or {})}
    try:
        return msgspec.convert(data, DatasourceCompaction)
    except msgspec.ValidationError as exc:
        fields = DatasourceCompaction.__struct_fields__
        error = from_validation_error(exc, known_fields=fields, source=request.name or "")
        raise _in_compaction(error) from exc


def job_from_spec(
    spec: dict[str, Any],
    *,
    prefix: str = "orch",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    name: str | None = None,
) -> CompiledJob:
    """A job for one validated `index_parallel` or `compact` task spec."""
    try:
        task = _validated({k: v for k, v in spec.items() if k != "id"})
    except SpecError as exc:
        if name:
            raise exc.with_source(name) from exc
        raise
    if task["type"] == "compact":
        # `compact` in the id, as compiled compaction jobs have it (`specs.compaction`).
        prefix = f"{prefix}_compact"
        datasource, texts = task["dataSource"], [_compact_interval(task, name)]
    else:
        datasource, texts = task["spec"]["dataSchema"]["dataSource"], job_intervals(task, name)
    parsed = [Interval.parse(t) for t in texts]
    covering = Interval(min(i.start for i in parsed), max(i.end for i in parsed))
    digest = spec_hash(task)
    return CompiledJob(
        job_id=job_id_for(prefix, datasource, covering, digest),
        datasource=datasource,
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


def _compact_interval(task: dict[str, Any], name: str | None) -> str:
    """The interval a valid `compact` spec compacts, which its job's id is made from.

    Raises:
        SpecError: rule `job-needs-intervals`, for a spec that names segments instead.
    """
    spec = (task.get("ioConfig") or {}).get("inputSpec") or {}
    text = spec.get("interval") or task.get("interval")
    if not isinstance(text, str):
        raise SpecError(
            "a compact spec submitted as a job needs an interval (the job's identity), not a "
            "list of segments",
            path="$.ioConfig.inputSpec",
            rule="job-needs-intervals",
            source=name or "",
        )
    return text


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


def request_from_file(
    path: str | Path, intervals: Sequence[str], *, limits: LimitsSection = LimitsSection()
) -> SubmitRequest:
    """Read a spec (`.json`) or a pipeline template (`.toml`) from a file.

    Raises:
        SpecError: the file cannot be read or parsed, or a spec is nested deeper than
            `limits.max_json_depth` (the message names the file).
    """
    source = str(path)
    text = read_spec_text(path)
    name = Path(path).name
    if source.endswith(".toml"):
        load_template(source, text=text)  # validates, with errors naming the file
        data = tomllib.loads(text)
        return SubmitRequest(template=data, intervals=list(intervals), name=name)
    try:
        check_depth(text.encode(), limits.max_json_depth)
    except BoundExceededError as exc:
        raise exc.with_source(source) from exc
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
