"""Properties of the pipeline compiler, over generated templates.

* compiling is deterministic, whatever the key order of the template's Druid objects;
* every template field that reaches the spec changes the hash when it changes; the capacity
  knob changes neither hash nor job id; the id prefix changes the job id only;
* the jobs of a range never overlap and cover it exactly;
* every compiled spec passes the model's validation and round-trips through it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from specs.compiler import PipelineTemplate, compile_job, compile_range
from specs.identity import canonical_json, id_problem, task_id_for
from specs.intervals import Interval
from specs.model import check_spec, encode_spec, validate_spec
from specs.template import check_template

DAY = Interval.parse("2024-01-01/2024-01-02")

# Template fields, by what a change to them does to a compiled job.
SPEC_FIELDS = frozenset(
    {
        "datasource", "input", "format", "timestamp_column", "timestamp_format", "dimensions",
        "schema_discovery", "metrics", "rollup", "segment_granularity", "query_granularity",
        "partitioning", "transforms", "filter", "tuning", "context",
    }
)  # fmt: skip
CAPACITY_FIELD = "max_sub_tasks"  # the spec changes, its identity does not
ID_ONLY_FIELDS = frozenset({"task_id_prefix"})  # the job id changes, the hash does not
# Neither changes (the sections compile to other documents; `watermark_from` gates a job).
ORCHESTRATION_FIELDS = frozenset({"name", "max_attempts", "watermark_from", "stream", "compaction"})
RANGE_FIELDS = frozenset({"chunk"})  # changes how a range is split, not a given job

names = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@st.composite
def inputs(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["http", "local", "inline"]))
    if kind == "http":
        uris = draw(st.lists(names, min_size=1, max_size=3, unique=True))
        return {"type": "http", "uris": [f"https://x.test/{u}/{{date}}.json" for u in uris]}
    if kind == "local":
        return {"type": "local", "baseDir": f"/data/{draw(names)}", "filter": "*.json"}
    # No braces: a `{word}` in a template string is a placeholder, and an unknown one is an
    # error by design (the template-placeholder rule), not a spec the generator should make.
    # No lone surrogates either: a TOML or JSON file cannot hold one.
    text = st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="{}"), max_size=20
    )
    return {"type": "inline", "data": draw(text)}


formats = st.one_of(
    st.none(),
    st.just({"type": "json"}),
    st.lists(names, min_size=1, max_size=3, unique=True).map(
        lambda cols: {"type": "csv", "columns": ["ts", *cols]}
    ),
)


@st.composite
def partitionings(draw: st.DrawFn, dimensions: list[str]) -> dict[str, Any]:
    kinds = ["dynamic", "hashed"] + (["single_dim", "range"] if dimensions else [])
    kind = draw(st.sampled_from(kinds))
    rows = draw(st.integers(1000, 10_000_000))
    if kind == "dynamic":
        return {"type": "dynamic", "max_rows_per_segment": rows}
    if kind == "hashed":
        return {"type": "hashed", "num_shards": draw(st.integers(1, 64))}
    if kind == "single_dim":
        return {
            "type": "single_dim",
            "partition_dimension": draw(st.sampled_from(dimensions)),
            "target_rows_per_segment": rows,
        }
    chosen = draw(st.lists(st.sampled_from(dimensions), min_size=1, unique=True))
    return {"type": "range", "partition_dimensions": chosen, "max_rows_per_segment": rows}


def _metric(kind: str, name: str, field: str) -> dict[str, Any]:
    if kind == "thetaSketch":  # an extension aggregator: kept verbatim, key order included
        return {
            "type": kind,
            "name": name,
            "fieldName": field,
            "size": 16384,
            "isInputThetaSketch": False,
        }
    return {"type": kind, "name": name, "fieldName": field}


@st.composite
def templates(draw: st.DrawFn) -> PipelineTemplate:
    dimensions = [f"d_{n}" for n in draw(st.lists(names, max_size=4, unique=True))]
    partitioning = draw(partitionings(dimensions))
    ranged = partitioning["type"] in ("single_dim", "range")
    data: dict[str, Any] = {
        "name": draw(names),
        "datasource": draw(names),
        "input": draw(inputs()),
        "format": draw(formats),
        "timestamp_column": draw(st.sampled_from(["ts", "time", "__time"])),
        "timestamp_format": draw(st.sampled_from(["auto", "iso", "millis", "posix"])),
        "dimensions": dimensions,
        "schema_discovery": draw(st.booleans()),
        "metrics": [
            _metric(kind, f"m_{n}", n)
            for kind, n in draw(
                st.lists(
                    st.tuples(st.sampled_from(["longSum", "doubleMax", "thetaSketch"]), names),
                    max_size=3,
                    unique_by=lambda t: t[1],
                )
            )
        ],
        "rollup": draw(st.booleans()),
        "segment_granularity": draw(st.sampled_from(["HOUR", "SIX_HOUR", "DAY"])),
        "query_granularity": draw(st.sampled_from(["NONE", "SECOND", "MINUTE"])),
        "chunk": draw(st.sampled_from(["DAY", "P1D", "P2D", "WEEK"])),
        "partitioning": partitioning,
        "transforms": [
            {"type": "expression", "name": f"t_{n}", "expression": f"concat({n}, 'x')"}
            for n in draw(st.lists(names, max_size=2, unique=True))
        ],
        "filter": draw(
            st.none() | names.map(lambda v: {"type": "selector", "dimension": "d", "value": v})
        ),
        "tuning": draw(st.none() | st.integers(1000, 10**6).map(lambda n: {"maxRowsInMemory": n}))
        or {},
        "context": draw(
            st.dictionaries(
                st.sampled_from(["priority", "taskLockTimeout", "x", "y"]),
                st.integers(0, 100),
                max_size=4,
            )
        ),
        "task_id_prefix": draw(st.sampled_from(["orch", "etl", "b-1"])),
        "max_attempts": draw(st.integers(1, 10)),
        "max_sub_tasks": draw(st.integers(2 if ranged else 1, 16)),
    }
    template = msgspec.convert(data, PipelineTemplate)
    check_template(template)
    return template


@st.composite
def field_changes(draw: st.DrawFn, field: str) -> tuple[PipelineTemplate, PipelineTemplate]:
    """A template, and the same template with only `field` changed."""
    template = draw(templates())
    current = getattr(template, field)
    dims = [d for d in template.dimensions if isinstance(d, str)]
    changes: dict[str, st.SearchStrategy[Any]] = {
        "name": names,
        "datasource": names,
        "input": inputs(),
        "format": formats,
        "timestamp_column": names,
        "timestamp_format": st.sampled_from(["auto", "iso", "millis", "posix", "nano"]),
        "dimensions": st.just([*dims, "d_new"]),
        "schema_discovery": st.just(not current),
        "metrics": st.just([*template.metrics, {"type": "count", "name": "m_new"}]),
        "rollup": st.just(not current),
        "segment_granularity": st.sampled_from(["HOUR", "SIX_HOUR", "DAY"]),
        "query_granularity": st.sampled_from(["NONE", "SECOND", "MINUTE"]),
        "chunk": st.sampled_from(["DAY", "P2D", "WEEK", "MONTH"]),
        "partitioning": partitionings(dims),
        "transforms": st.just([*template.transforms, {"type": "expression", "name": "t_new",
                                                       "expression": "1"}]),
        "filter": st.just({"type": "true"}),
        "tuning": st.just({**template.tuning, "maxRowsInMemory": 7}),
        "context": st.just({**template.context, "priority": 101}),
        "task_id_prefix": st.sampled_from(["orch", "etl", "b-1", "z"]),
        "max_attempts": st.integers(1, 10),
        "max_sub_tasks": st.integers(template.min_sub_tasks, 16),
        "watermark_from": names,
        "stream": st.just({"type": "kafka", "topic": "t",
                           "consumer_properties": {"bootstrap.servers": "k:9092"}}),
        "compaction": st.just({"max_rows_per_segment": 1000}),
    }  # fmt: skip
    data = msgspec.to_builtins(template)
    data[field] = draw(changes[field])
    changed = msgspec.convert(data, PipelineTemplate)
    assume(getattr(changed, field) != current)
    if changed.max_sub_tasks < changed.min_sub_tasks:  # range partitioning needs two
        changed = msgspec.structs.replace(changed, max_sub_tasks=changed.min_sub_tasks)
    return template, changed


def test_every_template_field_is_classified_by_its_effect_on_identity() -> None:
    classified = SPEC_FIELDS | ID_ONLY_FIELDS | ORCHESTRATION_FIELDS | RANGE_FIELDS
    assert classified | {CAPACITY_FIELD} == set(PipelineTemplate.__struct_fields__)


@given(templates(), st.integers(2, 16))
def test_compiling_is_deterministic(template: PipelineTemplate, allowance: int) -> None:
    first = compile_job(template, DAY, max_sub_tasks=allowance)
    again = compile_job(
        msgspec.convert(msgspec.to_builtins(template), PipelineTemplate),
        DAY,
        max_sub_tasks=allowance,
    )
    assert first == again


@given(templates(), st.randoms(use_true_random=False))
def test_the_key_order_of_druid_objects_in_a_template_does_not_change_the_identity(
    template: PipelineTemplate, rnd: Any
) -> None:
    def shuffled(value: Any) -> Any:
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffled(v) for k, v in items}
        if isinstance(value, list):
            return [shuffled(v) for v in value]
        return value

    reordered = msgspec.convert(shuffled(msgspec.to_builtins(template)), PipelineTemplate)
    assert compile_job(reordered, DAY).job_id == compile_job(template, DAY).job_id


@pytest.mark.parametrize("field", PipelineTemplate.__struct_fields__)
@settings(max_examples=max(10, settings().max_examples // 5))
@given(data=st.data())
def test_changing_a_template_field_changes_exactly_what_it_should(
    field: str, data: st.DataObject
) -> None:
    before, after = data.draw(field_changes(field))
    old, new = compile_job(before, DAY), compile_job(after, DAY)
    if field in SPEC_FIELDS:
        assert new.spec_hash != old.spec_hash
        assert new.job_id != old.job_id
    elif field in ID_ONLY_FIELDS:
        assert (new.spec_hash, new.spec) == (old.spec_hash, old.spec)
        assert new.job_id != old.job_id
    elif field == CAPACITY_FIELD:
        assert (new.spec_hash, new.job_id) == (old.spec_hash, old.job_id)
    elif field in ORCHESTRATION_FIELDS:
        assert (new.spec, new.job_id) == (old.spec, old.job_id)
    else:
        assert field in RANGE_FIELDS
        week = Interval.parse("2024-01-01/2024-01-08")
        old_ids = [j.job_id for j in compile_range(before, week)]
        new_ids = [j.job_id for j in compile_range(after, week)]
        split_differs = [j.interval for j in compile_range(before, week)] != [
            j.interval for j in compile_range(after, week)
        ]
        assert (old_ids != new_ids) == split_differs


@st.composite
def ranges(draw: st.DrawFn) -> tuple[str, str, Interval]:
    segment, chunk = draw(
        st.sampled_from(
            [("HOUR", "HOUR"), ("HOUR", "PT6H"), ("HOUR", "DAY"), ("DAY", "DAY"), ("DAY", "P3D"),
             ("DAY", "WEEK"), ("DAY", "MONTH"), ("MONTH", "MONTH"), ("MONTH", "QUARTER")]
        )
    )  # fmt: skip
    start = datetime(2023, 11, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 400)))
    if segment == "MONTH":
        start = start.replace(day=1)
        months = draw(st.integers(1, 14))
        total = start.year * 12 + start.month - 1 + months
        end = start.replace(year=total // 12, month=total % 12 + 1)
    elif segment == "HOUR":
        start += timedelta(hours=draw(st.integers(0, 23)))
        end = start + timedelta(hours=draw(st.integers(1, 24 * 5)))
    else:
        end = start + timedelta(days=draw(st.integers(1, 45)))
    return segment, chunk, Interval(start, end)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(json_values, st.randoms(use_true_random=False))
def test_canonical_json_is_the_same_for_any_key_order(value: Any, rnd: Any) -> None:
    def shuffled(item: Any) -> Any:
        if isinstance(item, dict):
            pairs = list(item.items())
            rnd.shuffle(pairs)
            return {k: shuffled(v) for k, v in pairs}
        if isinstance(item, list):
            return [shuffled(v) for v in item]
        return item

    assert canonical_json(shuffled(value)) == canonical_json(value)
    assert msgspec.json.decode(canonical_json(value)) == value


@given(templates(), ranges())
def test_the_jobs_of_a_range_never_overlap_and_cover_it_exactly(
    template: PipelineTemplate, case: tuple[str, str, Interval]
) -> None:
    segment, chunk, interval = case
    template = msgspec.structs.replace(template, segment_granularity=segment, chunk=chunk)
    jobs = compile_range(template, interval)
    parts = [Interval.parse(job.interval) for job in jobs]
    assert parts[0].start == interval.start
    assert parts[-1].end == interval.end
    for left, right in itertools.pairwise(parts):
        assert left.end == right.start
    assert len({job.job_id for job in jobs}) == len(jobs)


@given(templates(), st.integers(2, 16), st.integers(1, 999))
def test_every_compiled_spec_validates_and_round_trips(
    template: PipelineTemplate, allowance: int, attempt: int
) -> None:
    job = compile_job(template, DAY, max_sub_tasks=allowance)
    assert check_spec(job.spec) == []
    assert encode_spec(validate_spec(job.spec)) == job.spec
    # The template's Druid objects reach the spec verbatim, extension ones included.
    schema = job.spec["spec"]["dataSchema"]
    assert schema["metricsSpec"] == template.metrics
    assert schema["dimensionsSpec"]["dimensions"] == template.dimensions
    assert job.spec["spec"]["ioConfig"]["appendToExisting"] is False
    assert job.spec["context"] == template.context
    submitted = {**job.spec, "id": task_id_for(job.job_id, attempt)}
    assert encode_spec(validate_spec(submitted)) == submitted
    assert id_problem(submitted["id"]) is None
