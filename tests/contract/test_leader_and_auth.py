"""Leader discovery, standby redirects (307 with the POST body re-sent), no-leader 503s and
failover; druid-basic-security's 401/403 answers, auth hooks, and secrets kept out of errors."""

from __future__ import annotations

import pytest

from overlord.auth import BasicAuth, BearerAuth
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import OverlordAuthError, OverlordUnavailableError, TaskNotFoundError
from overlord.sim.server import Faults, SimConfig

from .conftest import FAST, MakeTarget, Target, fast_cluster, noop
from .support import fixture_json

SECURED = SimConfig(
    cluster=fast_cluster(),
    users={"admin": "s3cret-pw", "viewer": "viewer-pw"},
    forbidden_users=["viewer"],
    host_name="overlord-1.example.com",
)


async def test_the_leader_answers_who_leads_and_that_it_does(target: Target) -> None:
    client = target.client()
    assert await client.is_leader() is True
    assert (await client.leader()).startswith(("http://", "https://"))
    assert await client.health() is True


async def test_a_standby_redirects_to_the_leader_and_the_client_follows_with_the_body(
    make_target: MakeTarget,
) -> None:
    leader = await make_target()
    standby = await make_target(
        SimConfig(cluster=fast_cluster(), leader_url=leader.url), peer=leader.need_sim()
    )
    raw = await standby.raw("GET", "/druid/indexer/v1/tasks?state=running&max=3")
    assert raw.status == 307
    assert raw.headers["Location"] == leader.url + "/druid/indexer/v1/tasks?state=running&max=3"
    assert raw.body == b""
    client = standby.client()
    task_id = await client.submit(noop("sent_through_a_standby"))
    assert task_id == "sent_through_a_standby"
    assert leader.need_sim().requests["submit"] == 1
    assert client.leader_url == leader.url, "the client remembers the leader"
    await client.status(task_id)
    assert standby.need_sim().requests["status"] == 0, "later calls go straight to the leader"
    # /leader and /isLeader are answered by the standby itself.
    assert await client.is_leader() is False
    assert await client.leader() == leader.url


async def test_after_a_failover_the_client_finds_the_new_leader_through_its_configured_url(
    make_target: MakeTarget,
) -> None:
    a = await make_target()
    b = await make_target(SimConfig(cluster=fast_cluster(), leader_url=a.url), peer=a.need_sim())
    client = b.client()
    task_id = await client.submit(noop("before_failover", run_ms=60_000))
    assert client.leader_url == a.url
    a.need_sim().leader_url, b.need_sim().leader_url = b.url, None  # b wins the election
    status = await client.status(task_id)  # a redirects to b now: one store, same task
    assert status.id == task_id
    assert client.leader_url == b.url


async def test_while_no_leader_is_known_calls_are_retried_then_reported_unavailable(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    sim = target.need_sim()
    sim.set_faults(Faults(no_leader_s=30))
    raw = await target.raw("GET", "/druid/indexer/v1/tasks")
    assert raw.status == 503
    assert raw.content_type.startswith("text/html")
    client = target.client()
    with pytest.raises(OverlordUnavailableError) as caught:
        await client.tasks()
    assert caught.value.status == 503
    assert sim.requests["tasks"] == 1 + 3
    assert await client.is_leader() is False
    with pytest.raises(OverlordUnavailableError):
        await client.leader()


async def test_a_leader_that_is_not_ready_answers_503_and_a_submission_is_retried_through_it(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    sim = target.need_sim()
    sim.set_faults(Faults(outage_s=0.05))
    client = HttpOverlord(target.url, retry=RequestRetryPolicy(attempts=8, base_s=0.02, cap_s=0.05))
    target.clients.append(client)
    assert await client.submit(noop("after_the_outage")) == "after_the_outage"
    assert sim.requests["submit"] >= 2
    assert sim.stats()["submissions"] == 1


async def test_without_credentials_a_secured_overlord_answers_401_json_with_a_challenge(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SECURED)
    raw = await target.raw("GET", "/druid/indexer/v1/tasks")
    assert raw.status == 401
    assert raw.headers["WWW-Authenticate"] == "Basic"
    assert raw.json() == fixture_json("error_401_no_credentials.json")
    with pytest.raises(OverlordAuthError) as caught:
        await target.client().tasks()
    assert caught.value.status == 401
    assert not caught.value.retryable
    # Unsecured paths still answer.
    assert await target.client().health() is True
    assert await target.client().is_leader() is True


async def test_wrong_credentials_get_an_html_401_and_the_password_appears_nowhere(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SECURED)
    client = target.client(auth=BasicAuth("admin", "wrong-horse-battery"))
    with pytest.raises(OverlordAuthError) as caught:
        await client.submit(noop("never"))
    error = caught.value
    assert error.status == 401
    assert "Unauthorized" in str(error)
    for text in (str(error), repr(error), error.body_snippet, repr(client)):
        assert "wrong-horse-battery" not in text
        assert "YWRtaW46" not in text  # base64 of "admin:"


async def test_credentials_in_the_url_become_basic_auth_and_leave_the_url(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SECURED)
    with_creds = target.url.replace("http://", "http://admin:s3cret-pw@")
    client = HttpOverlord(with_creds, retry=FAST)
    target.clients.append(client)
    assert await client.submit(noop("with_url_credentials")) == "with_url_credentials"
    assert "s3cret-pw" not in repr(client)
    assert "s3cret-pw" not in client.leader_url


async def test_a_known_but_unpermitted_user_gets_403_in_both_of_druids_shapes(
    make_target: MakeTarget,
) -> None:
    target = await make_target(SECURED)
    admin = target.client(auth=BasicAuth("admin", "s3cret-pw"))
    task_id = await admin.submit(noop(run_ms=60_000))
    client = target.client(auth=BasicAuth("viewer", "viewer-pw"))
    with pytest.raises(OverlordAuthError) as caught:
        await client.status(task_id)
    assert caught.value.status == 403
    assert caught.value.druid_message == "Unauthorized"
    with pytest.raises(OverlordAuthError) as listing:
        await client.tasks(datasource="wikipedia")
    assert listing.value.druid_message == "Access-Check-Result: Unauthorized"


async def test_permissions_are_checked_by_the_resources_so_lists_are_filtered_and_ids_looked_up(
    make_target: MakeTarget,
) -> None:
    # REFERENCE §1.1: /tasks and /supervisor are filtered to what the caller may read (no
    # error), and a per-task path finds the task before it checks the caller's permission.
    target = await make_target(SECURED)
    admin = target.client(auth=BasicAuth("admin", "s3cret-pw"))
    await admin.submit(noop(run_ms=60_000))
    viewer = target.client(auth=BasicAuth("viewer", "viewer-pw"))
    assert await viewer.tasks() == []
    assert await viewer.supervisors() == []
    assert len(await admin.tasks()) == 1
    with pytest.raises(TaskNotFoundError):
        await viewer.status("no_such_task")


async def test_bearer_tokens_and_custom_hooks_add_their_headers_to_every_request(
    make_target: MakeTarget,
) -> None:
    target = await make_target()
    seen: list[tuple[str, str]] = []

    async def signer(method: str, url: str, headers: dict[str, str]) -> None:
        headers["X-Signature"] = f"signed:{method}"
        seen.append((method, url))

    await target.client(auth=signer).submit(noop("signed"))
    assert seen == [("POST", target.url + "/druid/indexer/v1/task")]
    bearer = BearerAuth("tok-123")
    headers: dict[str, str] = {}
    await bearer("GET", "http://x", headers)
    assert headers == {"Authorization": "Bearer tok-123"}
    assert "tok-123" not in repr(bearer)
