"""The pipeline compiler: a template plus an interval give one validated `index_parallel` spec.

    template = load_template("pipelines/wikipedia.toml")
    job = compile_job(template, Interval.parse("2024-01-01/2024-01-02"), max_sub_tasks=2)
    jobs = compile_range(template, Interval.parse("2024-01-01/2024-02-01"))

Identity is deterministic (see `specs.identity`): the compiled spec is canonicalised and
hashed, and the job id and every attempt's Druid task id derive from that hash:

    job id   <prefix>_<datasource>_<start>_<end>_<hash12>
    task id  <job id>_<attempt>

`maxNumConcurrentSubTasks` is left out of the hash: it follows the cluster's free capacity at
compile time, and a job must keep its identity when capacity changes between a crash and the
resubmission, or the same work would be submitted twice under two ids. The template's
orchestration settings (`name`, `max_attempts`) are not part of the spec, so they do not
change the hash either; `task_id_prefix` changes the job id but not the hash.

Intervals are always explicit (`granularitySpec.intervals`), aligned to the segment
granularity, and the jobs of a range never overlap and cover it exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from specs.capacity import allocate_sub_tasks
from specs.druid.validation import decode_task, encode_task
from specs.errors import SpecError
from specs.identity import CAPACITY_FIELDS, canonical_json, job_id_for, spec_hash, task_id_for
from specs.intervals import (
    Interval,
    align,
    check_granularity,
    floor,
    is_aligned,
    next_bucket,
    split,
)
from specs.supervisors import compile_supervisor
from specs.template import (
    TEMPLATE_ROOT,
    DynamicPartitioning,
    Partitioning,
    PipelineTemplate,
    data_schema,
    decode_template,
    fill_placeholders,
    read_template_text,
    template_path,
    watermark_source,
)
from specs.watermark import Watermark, clip_to_watermark

__all__ = [
    "CAPACITY_FIELDS",
    "CompiledJob",
    "PipelineTemplate",
    "builtin_template",
    "canonical_json",
    "compile",
    "compile_job",
    "compile_range",
    "job_id_for",
    "load_template",
    "spec_hash",
    "task_id_for",
]


class CompiledJob(msgspec.Struct, frozen=True):
    """One unit of ingestion: one datasource, one interval, one spec.

    The spec is held as its JSON (`spec_json`), which is what the event log records and what
    every attempt posts: a job cannot be changed after `spec_hash` was taken, and a live job
    costs its spec's bytes, not a tree of dicts about five times their size.
    """

    job_id: str
    datasource: str
    interval: str
    spec_json: msgspec.Raw  # the task JSON without its `id`
    spec_hash: str
    max_attempts: int
    pipeline: str
    watermark_from: str | None = None

    @property
    def spec(self) -> dict[str, Any]:
        """The task JSON without its `id`, decoded afresh (changing it changes no job)."""
        return msgspec.json.decode(self.spec_json, type=dict[str, Any])


def load_template(source: str | Path, *, text: str | None = None) -> PipelineTemplate:
    """Load a pipeline template from a TOML file (or from `text`) and check it completely.

    Raises:
        SpecError: naming the file, the template path (`$.pipeline.partitioning.num_shards`)
            and the rule. Nothing is compiled from a template that fails here.
    """
    name = str(source)
    raw = text if text is not None else read_template_text(source)
    template, root = decode_template(raw, source=name)
    # Compile one probe job, so every Druid rule is checked now rather than at first use.
    segment = check_granularity(template.segment_granularity)
    start = floor(datetime(2000, 1, 5, tzinfo=UTC), segment)
    probe = Interval(start, next_bucket(start, segment))
    try:
        compile_job(template, probe)
        _probe_sections(template, probe)
    except SpecError as exc:
        raise _in_template(exc, root).with_source(name) from exc
    return template


def _probe_sections(template: PipelineTemplate, probe: Interval) -> None:
    """Compile the stream and compaction sections once, as the batch probe does.

    Secrets are not read: a template must validate where its secrets are not present (CI,
    a laptop), and they are read when the supervisor is compiled to be posted.
    """
    # Imported here: compaction jobs are CompiledJobs, so that module imports this one.
    from specs.compaction import compile_compaction

    if template.stream is not None:
        compile_supervisor(template, reveal_secrets=False)
    if template.compaction is not None:
        # Over the first compaction chunk (widened to whole segments), so a chunk that cuts
        # segments fails here, as it would on every range.
        chunk = template.compaction.chunk or template.chunk
        first = next(split(Interval(probe.start, next_bucket(probe.start, "YEAR")), chunk))
        compile_compaction(template, align(first, check_granularity(template.segment_granularity)))


def builtin_template(name: str = "wikipedia") -> PipelineTemplate:
    """A template shipped with the package (`specs/pipelines/<name>.toml`)."""
    return load_template(Path(__file__).with_name("pipelines") / f"{name}.toml")


def compile_job(
    template: PipelineTemplate, interval: Interval, *, max_sub_tasks: int | None = None
) -> CompiledJob:
    """Compile one validated `index_parallel` spec for `interval`.

    Args:
        template: the pipeline.
        interval: the job's interval, aligned to the template's segment granularity.
        max_sub_tasks: the capacity allowance for this job (`maxNumConcurrentSubTasks`);
            capped by `template.max_sub_tasks`, which is also the default.

    Raises:
        SpecError: the interval is not aligned, or the template cannot give a valid spec (the
            path then names the template key, e.g. `$.pipeline.partitioning`).
    """
    segment = check_granularity(template.segment_granularity)
    _check_aligned("interval", interval, segment)
    sub_tasks = _sub_tasks(template, max_sub_tasks)
    if sub_tasks < template.min_sub_tasks:
        kind = template.partitioning.__struct_config__.tag
        template_at_fault = template.max_sub_tasks < template.min_sub_tasks
        raise SpecError(
            f"{'max_sub_tasks' if template_at_fault else 'the capacity allowance'} is "
            f"{sub_tasks}, below the {template.min_sub_tasks} sub-tasks {kind} partitioning "
            "needs (it has no sequential mode)",
            path=f"{TEMPLATE_ROOT}.max_sub_tasks" if template_at_fault else "$.capacity",
            rule="range-not-sequential" if template_at_fault else "capacity-below-minimum",
        )
    task = _task_json(template, interval, sub_tasks)
    try:
        spec = encode_task(decode_task(task))
    except SpecError as exc:
        raise _in_template(exc, TEMPLATE_ROOT) from exc
    digest = spec_hash(spec)
    return CompiledJob(
        job_id=job_id_for(template.task_id_prefix, template.datasource, interval, digest),
        datasource=template.datasource,
        interval=str(interval),
        spec_json=msgspec.Raw(msgspec.json.encode(spec)),
        spec_hash=digest,
        max_attempts=template.max_attempts,
        pipeline=template.name,
        watermark_from=watermark_source(template),
    )


def compile(
    template: PipelineTemplate, interval: Interval, capacity: int | None = None
) -> CompiledJob:
    """`compile_job` with the capacity allowance as a positional argument."""
    return compile_job(template, interval, max_sub_tasks=capacity)


def compile_range(
    template: PipelineTemplate,
    interval: Interval,
    *,
    max_sub_tasks: int | None = None,
    free_slots: int | None = None,
    watermark: Watermark | datetime | None = None,
) -> list[CompiledJob]:
    """One job per `template.chunk` of `interval`, in time order.

    Args:
        template: the pipeline.
        interval: the range, aligned to the segment granularity.
        max_sub_tasks: one allowance for every job (see `compile_job`).
        free_slots: free worker slots to share among these jobs (see `specs.capacity`); each
            job gets its own allowance, and together they never ask for more than this.
        watermark: the streaming watermark of the datasource (see `specs.watermark`); the
            range is clipped to end at it, aligned down to the segment granularity.

    Raises:
        SpecError: unaligned range or chunks, or an invalid template.
        WatermarkError: the whole range lies past the watermark.
        CapacityError: the free slots cannot start every job now (`.fits` says how many).
    """
    segment = check_granularity(template.segment_granularity)
    if watermark is not None:
        interval = clip_to_watermark(interval, watermark, segment)
    _check_aligned("range", interval, segment)
    chunks = list(split(interval, template.chunk))
    for chunk in chunks:
        if not is_aligned(chunk, segment):
            raise SpecError(
                f"chunk {template.chunk!r} cuts the range at {chunk}, which is not aligned to "
                f"segment_granularity {segment}; use a chunk that is a whole number of "
                "segment buckets",
                path=f"{TEMPLATE_ROOT}.chunk",
                rule="interval-aligned",
            )
    allowances: Sequence[int | None] = [max_sub_tasks] * len(chunks)
    if free_slots is not None:
        allowances = allocate_sub_tasks(
            free_slots,
            len(chunks),
            want=_sub_tasks(template, max_sub_tasks),
            minimum=template.min_sub_tasks,
        )
    return [
        compile_job(template, chunk, max_sub_tasks=allowance)
        for chunk, allowance in zip(chunks, allowances, strict=True)
    ]


def _check_aligned(what: str, interval: Interval, segment: str) -> None:
    if not is_aligned(interval, segment):
        raise SpecError(
            f"{what} {interval} is not aligned to segmentGranularity {segment}; the "
            f"smallest aligned {what} covering it is {align(interval, segment)}",
            path="$.interval",
            rule="interval-aligned",
        )


def _sub_tasks(template: PipelineTemplate, asked: int | None) -> int:
    """Sub-tasks for one job: as asked, but never above the template's own cap."""
    return template.max_sub_tasks if asked is None else min(template.max_sub_tasks, asked)


def _task_json(template: PipelineTemplate, interval: Interval, sub_tasks: int) -> dict[str, Any]:
    schema = data_schema(template)
    schema["granularitySpec"]["intervals"] = [str(interval)]
    io_config: dict[str, Any] = {
        "type": "index_parallel",
        "inputSource": fill_placeholders(
            template.input, interval, path="$.spec.ioConfig.inputSource"
        ),
        "appendToExisting": False,
    }
    if template.format is not None:
        io_config["inputFormat"] = template.format
    tuning: dict[str, Any] = {
        "type": "index_parallel",
        "partitionsSpec": _partitions_spec(template.partitioning),
        "forceGuaranteedRollup": not isinstance(template.partitioning, DynamicPartitioning),
        **template.tuning,
        "maxNumConcurrentSubTasks": sub_tasks,
    }
    return {
        "type": "index_parallel",
        "spec": {"dataSchema": schema, "ioConfig": io_config, "tuningConfig": tuning},
        "context": dict(template.context),
    }


def _partitions_spec(partitioning: Partitioning) -> dict[str, Any]:
    """Druid's partitionsSpec for a template's snake_case partitioning table."""
    fields = msgspec.structs.asdict(partitioning)
    spec: dict[str, Any] = {"type": type(partitioning).__struct_config__.tag}
    for key, value in fields.items():
        if value is None or value == []:
            continue
        head, *rest = key.split("_")
        spec[head + "".join(word.title() for word in rest)] = value
    return spec


def _in_template(exc: SpecError, root: str) -> SpecError:
    """A compile error re-addressed to the template key the offending value came from."""
    if exc.path.startswith(TEMPLATE_ROOT) and root != TEMPLATE_ROOT:
        return type(exc)(exc.detail, path=root + exc.path[len(TEMPLATE_ROOT) :], rule=exc.rule)
    if not exc.path.startswith(("$.spec", "$.context")):
        return exc
    where = template_path(exc.path, root)
    return type(exc)(
        f"{exc.detail} (in the compiled spec at {exc.path})", path=where, rule=exc.rule
    )
