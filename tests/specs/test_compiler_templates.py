"""Pipeline templates: bad input gives an error naming the file, the path and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from specs.compiler import builtin_template, compile_job, compile_range, load_template
from specs.errors import SpecError
from specs.intervals import Interval

GOOD = """
[pipeline]
name = "events-daily"
datasource = "events"
chunk = "DAY"
segment_granularity = "DAY"
timestamp_column = "ts"
dimensions = ["page", { type = "long", name = "delta" }]
metrics = [{ type = "count", name = "count" }]

[pipeline.input]
type = "http"
uris = ["https://example.com/{date}.json"]

[pipeline.format]
type = "json"
"""


def load_error(text: str, tmp_path: Path) -> SpecError:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_template(path)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_the_good_template_used_here_loads_and_compiles() -> None:
    template = load_template("good.toml", text=GOOD)
    job = compile_job(template, Interval.parse("2024-01-01/2024-01-02"))
    assert job.spec["spec"]["ioConfig"]["inputSource"]["uris"] == [
        "https://example.com/2024-01-01.json"
    ]


def test_malformed_toml_names_the_file_and_the_toml_rule(tmp_path: Path) -> None:
    error = load_error(GOOD + "\nname = \n", tmp_path)
    assert error.rule == "toml"


def test_a_missing_file_is_an_io_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_template(tmp_path / "nowhere.toml")
    assert caught.value.rule == "io"


def test_an_unknown_key_is_named_with_its_template_path(tmp_path: Path) -> None:
    error = load_error(GOOD.replace('chunk = "DAY"', 'chunks = "DAY"'), tmp_path)
    assert (error.path, error.rule) == ("$.pipeline.chunks", "unknown-field")
    assert "did you mean 'chunk'" in error.detail


def test_a_wrong_type_is_named_with_its_template_path(tmp_path: Path) -> None:
    error = load_error(GOOD.replace('name = "events-daily"', "name = 7"), tmp_path)
    assert (error.path, error.rule) == ("$.pipeline.name", "schema")


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    error = load_error(GOOD.replace('datasource = "events"', ""), tmp_path)
    assert (error.path, error.rule) == ("$.pipeline.datasource", "missing-field")


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        (
            ('segment_granularity = "DAY"', 'segment_granularity = "DAILY"'),
            "$.pipeline.segment_granularity",
            "granularity-name",
        ),
        (('chunk = "DAY"', 'chunk = "fortnightly"'), "$.pipeline.chunk", "chunk"),
        (
            ('datasource = "events"', 'datasource = "a/b"'),
            "$.pipeline.datasource",
            "datasource-name",
        ),
        (("{date}", "{dat}"), "$.pipeline.input.uris[0]", "template-placeholder"),
        (
            ('name = "events-daily"', 'name = "x"\ntask_id_prefix = ".hidden"'),
            "$.pipeline.task_id_prefix",
            "schema",
        ),
        (
            ('name = "events-daily"', 'name = "x"\nmax_sub_tasks = 0'),
            "$.pipeline.max_sub_tasks",
            "schema",
        ),
        (
            ('name = "events-daily"', 'name = "x"\ntuning = { forceGuaranteedRollup = true }'),
            "$.pipeline.tuning.forceGuaranteedRollup",
            "template-tuning-key",
        ),
    ],
)
def test_a_bad_value_is_named_with_its_path_and_rule(
    change: tuple[str, str], path: str, rule: str, tmp_path: Path
) -> None:
    assert change[0] in GOOD
    error = load_error(GOOD.replace(*change), tmp_path)
    assert (error.path, error.rule) == (path, rule)


def test_a_druid_rule_broken_by_the_template_points_at_the_template_key(tmp_path: Path) -> None:
    text = GOOD + '\n[pipeline.partitioning]\ntype = "hashed"\nnum_shards = 2\n'
    text += "target_rows_per_segment = 1000\n"
    error = load_error(text, tmp_path)
    assert (error.path, error.rule) == ("$.pipeline.partitioning", "hashed-shards-or-rows")
    assert "$.spec.tuningConfig.partitionsSpec.numShards" in error.detail


def test_a_bad_druid_object_inside_the_template_keeps_its_sub_path(tmp_path: Path) -> None:
    error = load_error(GOOD.replace('type = "http"', 'type = "http"\nuri = "x"'), tmp_path)
    assert (error.path, error.rule) == ("$.pipeline.input.uri", "unknown-field")


def test_range_partitioning_with_one_sub_task_is_refused_at_load(tmp_path: Path) -> None:
    text = GOOD.replace('name = "events-daily"', 'name = "x"\nmax_sub_tasks = 1')
    text += '\n[pipeline.partitioning]\ntype = "range"\npartition_dimensions = ["page"]\n'
    text += "target_rows_per_segment = 5000\n"
    error = load_error(text, tmp_path)
    assert (error.path, error.rule) == ("$.pipeline.max_sub_tasks", "range-not-sequential")


def test_a_template_without_the_pipeline_table_reports_paths_from_the_root(
    tmp_path: Path,
) -> None:
    flat = GOOD.replace("[pipeline]\n", "").replace("[pipeline.", "[")
    assert load_template("flat.toml", text=flat).datasource == "events"
    error = load_error(flat.replace('chunk = "DAY"', 'chunk = "weekly"'), tmp_path)
    assert error.path == "$.chunk"


@pytest.mark.parametrize(
    "text", ["2024-01-01/", "/2024-01-02", "2024-01-01", "2024-01-02/2024-01-01"]
)
def test_open_or_reversed_intervals_are_refused(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        Interval.parse(text)
    assert caught.value.rule in ("interval-explicit", "interval-order")


def test_an_unaligned_interval_is_refused_with_the_interval_aligned_rule() -> None:
    with pytest.raises(SpecError) as caught:
        compile_job(builtin_template(), Interval.parse("2024-01-01T06:00:00Z/2024-01-02"))
    assert (caught.value.path, caught.value.rule) == ("$.interval", "interval-aligned")


def test_a_chunk_that_cuts_segments_is_refused_naming_the_chunk() -> None:
    template = load_template("t.toml", text=GOOD.replace('chunk = "DAY"', 'chunk = "PT6H"'))
    with pytest.raises(SpecError) as caught:
        compile_range(template, Interval.parse("2024-01-01/2024-01-02"))
    assert (caught.value.path, caught.value.rule) == ("$.pipeline.chunk", "interval-aligned")


def test_placeholders_fill_only_known_names_and_leave_other_braces_alone() -> None:
    text = GOOD.replace(
        'uris = ["https://example.com/{date}.json"]',
        'uris = ["https://example.com/{year}/{month}/{day}/{hour}.json?q={\\"a\\":1}"]',
    )
    job = compile_job(load_template("t.toml", text=text), Interval.parse("2024-03-09/P1D"))
    uri = job.spec["spec"]["ioConfig"]["inputSource"]["uris"][0]
    assert uri == 'https://example.com/2024/03/09/00.json?q={"a":1}'


def test_every_partitioning_kind_compiles_to_a_valid_druid_partitions_spec() -> None:
    kinds = {
        'type = "dynamic"\nmax_rows_per_segment = 100': {
            "type": "dynamic",
            "maxRowsPerSegment": 100,
        },
        'type = "hashed"\nnum_shards = 3': {"type": "hashed", "numShards": 3},
        'type = "single_dim"\npartition_dimension = "page"\ntarget_rows_per_segment = 9': {
            "type": "single_dim",
            "partitionDimension": "page",
            "targetRowsPerSegment": 9,
        },
        'type = "range"\npartition_dimensions = ["page"]\nmax_rows_per_segment = 9': {
            "type": "range",
            "partitionDimensions": ["page"],
            "maxRowsPerSegment": 9,
        },
    }
    for table, expected in kinds.items():
        template = load_template("t.toml", text=GOOD + f"\n[pipeline.partitioning]\n{table}\n")
        tuning = compile_job(template, Interval.parse("2024-01-01/P1D")).spec["spec"][
            "tuningConfig"
        ]
        assert tuning["partitionsSpec"] == expected
        assert tuning["forceGuaranteedRollup"] is (expected["type"] != "dynamic")


def test_a_capacity_allowance_below_what_range_partitioning_needs_is_refused() -> None:
    text = GOOD + '\n[pipeline.partitioning]\ntype = "range"\npartition_dimensions = ["page"]\n'
    template = load_template("t.toml", text=text + "max_rows_per_segment = 10\n")
    with pytest.raises(SpecError) as caught:
        compile_job(template, Interval.parse("2024-01-01/P1D"), max_sub_tasks=1)
    assert (caught.value.path, caught.value.rule) == ("$.capacity", "capacity-below-minimum")
    spec = compile_job(template, Interval.parse("2024-01-01/P1D"), max_sub_tasks=2).spec
    assert spec["spec"]["tuningConfig"]["maxNumConcurrentSubTasks"] == 2
