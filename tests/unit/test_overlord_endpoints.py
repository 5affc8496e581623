"""Every path is built in one place, with ids percent-encoded as one path segment."""

from __future__ import annotations

from overlord import endpoints as ep


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
    }


def test_node_local_endpoints_are_never_redirected_and_coordinator_ones_use_its_base() -> None:
    assert {e.name for e in ep.ALL if not e.follows_leader} == {
        "leader",
        "is_leader",
        "health",
        "self_discovered",
    }
    assert {e.name for e in ep.ALL if e.base == "coordinator"} == {"coverage", "coverage_intervals"}
