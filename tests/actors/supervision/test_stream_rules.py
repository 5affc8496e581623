"""The `[supervisor]` rules read an unhealthy streaming supervisor: the built-in set's
readings, and a rules file's mistakes reported with the rule's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.errors import ConfigError
from actors.supervision.classification import load_rules
from actors.supervision.stream_rules import StreamEvidence, classify_stream

RULES = load_rules().supervisor
OUT_OF_RANGE = (
    "org.apache.druid.indexing.seekablestream.common.StreamException: Previous sequenceNumber "
    "[3000100] is no longer available for partition [0]."
)


@pytest.mark.parametrize(
    ("evidence", "reading"),
    [
        (
            StreamEvidence(
                state="UNHEALTHY_SUPERVISOR",
                detailed_state="LOST_CONTACT_WITH_STREAM",
                recent_errors=(OUT_OF_RANGE,),
            ),
            ("structural", "offsets-out-of-range"),
        ),
        (
            StreamEvidence(
                state="UNHEALTHY_SUPERVISOR",
                detailed_state="LOST_CONTACT_WITH_STREAM",
                recent_errors=("StreamException: Timeout expired while fetching metadata",),
                unhealthy_for_s=30,
            ),
            ("transient", "stream-unreachable"),
        ),
        (
            StreamEvidence(
                state="UNHEALTHY_SUPERVISOR",
                detailed_state="UNABLE_TO_CONNECT_TO_STREAM",
                unhealthy_for_s=301,
            ),
            ("structural", "unable-to-connect-persists"),
        ),
        (
            StreamEvidence(
                state="UNHEALTHY_TASKS",
                detailed_state="UNHEALTHY_TASKS",
                recent_errors=("ParseException: Max parse exceptions [0] exceeded",),
            ),
            ("structural", "parse-exceptions"),
        ),
        (
            StreamEvidence(state="UNHEALTHY_TASKS", detailed_state="UNHEALTHY_TASKS"),
            ("structural", "tasks-failing"),
        ),
        (StreamEvidence(state="UNHEALTHY_SUPERVISOR"), ("transient", "default")),
    ],
)
def test_the_built_in_rules_read_each_unhealthy_state(
    evidence: StreamEvidence, reading: tuple[str, str]
) -> None:
    decision = classify_stream(evidence, RULES)
    assert (decision.classification, decision.rule) == reading
    assert decision.reason


def test_a_bad_pattern_in_a_supervisor_rule_is_reported_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[supervisor]\n[[supervisor.rule]]\nname = "broken"\nclassification = "structural"\n'
        "message = ['(unclosed']\n"
    )
    with pytest.raises(ConfigError, match="supervisor rule 'broken'"):
        load_rules(path)


def test_a_rules_file_without_a_supervisor_section_keeps_the_built_in_supervisor_rules(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('default = "structural"\n')
    rules = load_rules(path)
    assert rules.rule == []
    evidence = StreamEvidence(state="UNHEALTHY_SUPERVISOR", recent_errors=(OUT_OF_RANGE,))
    assert classify_stream(evidence, rules.supervisor).rule == "offsets-out-of-range"
