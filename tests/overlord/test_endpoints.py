"""Every path is built in one place, with ids percent-encoded as one path segment."""

from __future__ import annotations

import pytest

from overlord import endpoints as ep
from overlord.sim.access import accepts


def test_names_are_unique_and_every_route_is_distinct() -> None:
    names = [e.name for e in ep.ALL]
    assert len(names) == len(set(names))
    routes = [(e.method, e.template) for e in ep.ALL]
    assert len(routes) == len(set(routes))


def test_ids_become_one_percent_encoded_segment() -> None:
    path = ep.STATUS.path(task_id="index_parallel_wiki_abcdefgh_2024-01-01T00:00:00.000Z")
    assert (
        path
        == "/druid/indexer/v1/task/index_parallel_wiki_abcdefgh_2024-01-01T00%3A00%3A00.000Z/status"
    )
    assert ep.TASK_SPEC.path(task_id="a b/c") == "/druid/indexer/v1/task/a%20b%2Fc"
    assert ep.COVERAGE.path(datasource="wiki") == "/druid/coordinator/v1/datasources/wiki"


def test_only_requests_that_are_harmful_to_repeat_are_marked_not_idempotent() -> None:
    not_idempotent = {e.name for e in ep.ALL if not e.idempotent}
    assert not_idempotent == {
        "submit",
        "shutdown_all",
        "supervisor_suspend",
        "supervisor_resume",
        "supervisor_terminate",
        "supervisor_reset",
    }


def test_node_local_endpoints_are_never_redirected_and_coordinator_ones_use_its_base() -> None:
    assert {e.name for e in ep.ALL if not e.follows_leader} == {
        "leader",
        "is_leader",
        "health",
        "self_discovered",
    }
    assert {e.name for e in ep.ALL if e.base == "coordinator"} == {"coverage", "coverage_intervals"}


def test_only_the_task_log_is_plain_text_every_other_endpoint_is_json() -> None:
    assert {e.name for e in ep.ALL if e.produces != ep.JSON} == {"log"}
    assert ep.LOG.produces == "text/plain"


@pytest.mark.parametrize(
    ("header", "media_type", "accepted"),
    [
        ("application/json", "application/json", True),
        ("application/json", "text/plain", False),
        ("text/plain, */*", "application/json", True),
        ("TEXT/*; q=0.5", "text/plain", True),
        ("*/*", "text/plain", True),
        ("application/json;charset=UTF-8", "application/json", True),
        ("*/*, text/plain;q=0", "text/plain", False),
        ("text/plain;q=0, */*", "application/json", True),
        ("text/html, application/xhtml+xml", "text/plain", False),
        ("text/plain;q=nope", "text/plain", False),
    ],
)
def test_the_simulator_reads_accept_headers_as_jax_rs_does(
    header: str, media_type: str, accepted: bool
) -> None:
    assert accepts(header, media_type) is accepted
