"""Failure classification rules: the built-in set, rule order, defaults and bad rule files."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.errors import ConfigError
from actors.supervision.classification import (
    FailureEvidence,
    classify,
    evidence_from_excerpt,
    load_rules,
    report_excerpt,
)
from overlord.sim.catalog import FAILURE_KINDS, completion_report, status_error

RULES = load_rules()


@pytest.mark.parametrize("kind", sorted(FAILURE_KINDS))
@pytest.mark.parametrize("parallel", [True, False])
def test_every_simulated_failure_kind_is_classified_as_the_simulator_means_it(
    kind: str, parallel: bool
) -> None:
    failure = FAILURE_KINDS[kind]
    report = None
    if failure.has_report:
        mode = "parallel" if parallel else "sequential"
        full = completion_report("t", mode=mode, context={}, rows=10, failure=failure)
        report = full["ingestionStatsAndErrors"]["payload"]
    # In parallel mode the status and the report say only "Failed in phase[...]": the cause
    # is in the log tail, which the actor fetches for exactly this case.
    evidence = FailureEvidence(
        error_msg=status_error(failure, parallel=parallel),
        report=report,
        log_tail=f"... ERROR {failure.log_line}\n",
    )
    decision = classify(evidence, RULES)
    assert decision.classification == failure.outcome, decision


def test_the_parallel_mode_failure_without_a_log_falls_to_the_default() -> None:
    evidence = FailureEvidence(
        error_msg="Failed in phase[segment generation]. See task logs for details.",
        report={"ingestionState": "COMPLETED", "errorMsg": "Failed in phase[segment generation]."},
    )
    decision = classify(evidence, RULES)
    assert decision.rule == "default"
    assert decision.classification == RULES.default


def test_a_user_shutdown_is_structural_but_our_own_deadline_shutdown_is_transient() -> None:
    by_user = FailureEvidence(error_msg="Shutdown request from user")
    by_us = FailureEvidence(error_msg="Shutdown request from user", deadline=True)
    assert classify(by_user, RULES).rule == "user-shutdown"
    assert classify(by_user, RULES).classification == "structural"
    assert classify(by_us, RULES).rule == "phase-deadline"
    assert classify(by_us, RULES).classification == "transient"


def test_lost_tasks_are_transient_and_rejected_specs_structural() -> None:
    assert classify(FailureEvidence(source="lost"), RULES).classification == "transient"
    rejected = FailureEvidence(source="rejected", http_status=400, error_msg="bad spec")
    assert classify(rejected, RULES).rule == "spec-rejected"
    denied = FailureEvidence(source="rejected", http_status=403, error_msg="Unauthorized")
    assert classify(denied, RULES).rule == "auth"


def test_only_failures_where_the_cluster_lost_the_task_spare_an_attempt() -> None:
    lost = classify(FailureEvidence(source="lost"), RULES)
    assert (lost.rule, lost.count_attempt) == ("task-lost", False)
    worker = FailureEvidence(error_msg=status_error(FAILURE_KINDS["lost_worker"], parallel=False))
    assert (classify(worker, RULES).rule, classify(worker, RULES).count_attempt) == (
        "lost-worker",
        False,
    )
    for kind in ("s3_throttle", "oom_killed", "lock_revoked", "parse_errors"):
        failure = FailureEvidence(error_msg=status_error(FAILURE_KINDS[kind], parallel=False))
        assert classify(failure, RULES).count_attempt, kind
    assert classify(FailureEvidence(error_msg="something new"), RULES).count_attempt


def test_a_rules_file_can_say_a_failure_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nname = "spot"\nclassification = "transient"\ncount_attempt = false\n'
        'message = ["spot instance reclaimed"]\n'
    )
    rules = load_rules(path)
    assert not classify(FailureEvidence(error_msg="spot instance reclaimed"), rules).count_attempt
    assert classify(FailureEvidence(error_msg="other"), rules).count_attempt


def test_row_stat_thresholds_use_every_report_shape() -> None:
    sequential = {
        "ingestionState": "BUILD_SEGMENTS",
        "errorMsg": "exceeded",
        "rowStats": {
            "determinePartitions": {"unparseable": 0},
            "buildSegments": {"unparseable": 3},
        },
    }
    parallel = {
        "ingestionState": "COMPLETED",
        "errorMsg": "Failed in phase[segment generation]. See task logs for details.",
        "rowStats": {"totals": {"buildSegments": {"unparseable": 2}}},
    }
    for report in (sequential, parallel):
        decision = classify(FailureEvidence(report=report), RULES)
        assert decision.classification == "structural", report


def test_the_first_matching_rule_wins_and_its_name_is_the_evidence(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        'default = "structural"\n'
        '[[rule]]\nname = "a"\nclassification = "transient"\nmessage = ["boom"]\n'
        '[[rule]]\nname = "b"\nclassification = "structural"\nmessage = ["boom"]\n'
    )
    rules = load_rules(path)
    assert classify(FailureEvidence(error_msg="big boom"), rules).rule == "a"
    unknown = classify(FailureEvidence(error_msg="something new"), rules)
    assert (unknown.rule, unknown.classification) == ("default", "structural")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[rule]]\nname = "x"\nclassification = "maybe"\n', "classification"),
        ('[[rule]]\nname = "x"\nclassification = "transient"\nmesage = ["a"]\n', "mesage"),
        (
            '[[rule]]\nname = "x"\nclassification = "transient"\nmessage = ["(unclosed"]\n',
            "(unclosed",
        ),
        ("[[rule]\n", "TOML"),
    ],
)
def test_a_bad_rules_file_is_refused_with_the_file_and_the_problem(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(path) in str(caught.value)
    assert needle in str(caught.value)


def test_a_recorded_excerpt_rebuilds_evidence_that_classifies_the_same_way() -> None:
    failure = FAILURE_KINDS["parse_errors"]
    report = completion_report("t", mode="sequential", context={}, rows=5, failure=failure)
    evidence = FailureEvidence(
        error_msg=failure.status_error,
        report=report["ingestionStatsAndErrors"]["payload"],
        log_tail=failure.log_line,
    )
    again = evidence_from_excerpt(report_excerpt(evidence))
    assert classify(again, RULES) == classify(evidence, RULES)
