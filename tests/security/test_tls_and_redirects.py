"""TLS and redirects: mutual TLS with `client_cert`/`client_key`, warnings for settings that
give security away, and credentials that follow a standby's redirect only to trusted hosts."""

from __future__ import annotations

import logging
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from actors.errors import ConfigError
from actors.orchestrator import Orchestrator
from overlord.auth import BasicAuth
from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import OverlordConfigError, OverlordError
from overlord.sim.server import SimConfig, Simulator
from overlord.tls import ClientSettings, setting_warnings, ssl_context
from service.config import load_config
from tests.contract.conftest import fast_cluster
from tests.security.certs import make_certificates
from tests.service.processes import running
from tests.support import daily_jobs, fast_config, month_start

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
ONE_TRY = RequestRetryPolicy(attempts=1)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    return make_certificates(tmp_path_factory.mktemp("mtls"))


@pytest.fixture
async def mtls_url(certificates: Path) -> AsyncIterator[str]:
    """The simulator behind TLS that asks for a client certificate signed by the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    context.load_verify_locations(certificates / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(Simulator(SimConfig(cluster=fast_cluster())).app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@needs_openssl
async def test_a_client_certificate_gets_through_mutual_tls(
    mtls_url: str, certificates: Path
) -> None:
    ca = str(certificates / "ca.pem")
    async with HttpOverlord(mtls_url, ca_bundle=ca, retry=ONE_TRY) as anonymous:
        with pytest.raises(OverlordError):
            await anonymous.tasks()
    async with HttpOverlord(
        mtls_url,
        ca_bundle=ca,
        client_cert=str(certificates / "client.pem"),
        client_key=str(certificates / "client.key"),
    ) as client:
        assert await client.tasks() == []


@needs_openssl
@needs_openssl
async def test_an_embedded_orchestrator_runs_jobs_over_mutual_tls(
    mtls_url: str, certificates: Path, tmp_path: Path
) -> None:
    """`Orchestrator.open` takes the daemon's TLS settings as one `ClientSettings`."""
    settings = ClientSettings(
        ca_bundle=str(certificates / "ca.pem"),
        client_cert=str(certificates / "client.pem"),
        client_key=str(certificates / "client.key"),
        leader_hosts=("overlord-2.example",),
    )
    job = daily_jobs(1, month_start(2024, 6))[0]
    async with Orchestrator.open(
        tmp_path / "orch.db", mtls_url, settings=settings, config=fast_config()
    ) as orch:
        await orch.submit(job)
        view = await orch.wait(job.job_id, timeout=30)
    assert view.phase == "succeeded"
    with pytest.raises(ValueError, match="inside settings"):
        async with Orchestrator.open(
            tmp_path / "other.db", mtls_url, settings=settings, verify_tls=False
        ):
            pass


def test_an_unusable_client_key_is_named_without_its_content(
    certificates: Path, tmp_path: Path
) -> None:
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot-a-key-Zk7secret\n-----END PRIVATE KEY-----\n")
    with pytest.raises(OverlordConfigError) as caught:
        ssl_context(True, None, str(certificates / "client.pem"), str(key))
    assert str(key) in str(caught.value)
    assert "Zk7secret" not in str(caught.value)
    with pytest.raises(OverlordConfigError, match="client_cert is not"):
        ssl_context(True, None, None, str(key))


def test_settings_that_give_security_away_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    found = setting_warnings(
        "http://overlord.example.com:8090", verify_tls=False, ca_bundle="/ca.pem",
        sends_credentials=True,
    )  # fmt: skip
    assert any("ca_bundle" in w and "verify_tls is false" in w for w in found)
    assert any("plain http to overlord.example.com" in w for w in found)
    # Loopback over http, or no credentials at all: nothing to say.
    assert (
        setting_warnings(
            "http://127.0.0.1:8090", verify_tls=True, ca_bundle=None, sends_credentials=True
        )
        == []
    )
    assert (
        setting_warnings(
            "http://overlord:8090", verify_tls=True, ca_bundle=None, sends_credentials=False
        )
        == []
    )
    with caplog.at_level(logging.WARNING, logger="druid_orch.overlord"):
        HttpOverlord("http://admin:pw@overlord.example.com:8090")
    assert "plain http to overlord.example.com" in caplog.text
    assert "pw" not in caplog.text.replace("plain http", "")


@pytest.fixture
async def leader_and_standby() -> AsyncIterator[tuple[Simulator, str, Simulator, str]]:
    """A standby on 127.0.0.1 whose leader is named as `localhost`: another host name."""
    users = {"admin": "pw-3e9"}
    leader = Simulator(SimConfig(cluster=fast_cluster(), users=users))
    async with running(leader) as leader_url:
        standby = Simulator(SimConfig(cluster=fast_cluster(), users=users), peer=leader)
        async with running(standby) as standby_url:
            port = leader_url.rsplit(":", 1)[1]
            standby.leader_url = f"http://localhost:{port}"
            yield leader, leader_url, standby, standby_url


async def test_credentials_do_not_follow_a_redirect_to_an_untrusted_host(
    leader_and_standby: tuple[Simulator, str, Simulator, str],
) -> None:
    leader, _, _, standby_url = leader_and_standby
    auth = BasicAuth("admin", "pw-3e9")
    async with HttpOverlord(standby_url, auth=auth, retry=ONE_TRY) as client:
        with pytest.raises(OverlordConfigError) as caught:
            await client.tasks()
    assert "localhost" in str(caught.value)
    assert "overlord.leader_hosts" in str(caught.value)
    assert not caught.value.retryable
    assert leader.requests["tasks"] == 0, "nothing reached the other host"


async def test_a_listed_leader_host_gets_the_redirected_call(
    leader_and_standby: tuple[Simulator, str, Simulator, str],
) -> None:
    leader, _, _, standby_url = leader_and_standby
    auth = BasicAuth("admin", "pw-3e9")
    async with HttpOverlord(standby_url, auth=auth, leader_hosts=["LocalHost"]) as client:
        assert await client.tasks() == []
        assert client.leader_url.startswith("http://localhost:")
    assert leader.requests["tasks"] == 1


@needs_openssl
def test_the_tls_keys_load_from_config_and_a_bad_certificate_names_its_key(
    certificates: Path, tmp_path: Path
) -> None:
    config = load_config(
        None,
        env={
            "DRUID_ORCH_OVERLORD_CLIENT_CERT": str(certificates / "client.pem"),
            "DRUID_ORCH_OVERLORD_CLIENT_KEY": str(certificates / "client.key"),
            "DRUID_ORCH_OVERLORD_LEADER_HOSTS": '["overlord-1", "overlord-2"]',
        },
    )
    assert config.overlord.leader_hosts == ["overlord-1", "overlord-2"]
    assert config.overlord.client_cert == str(certificates / "client.pem")
    with pytest.raises(ConfigError, match=r"key `overlord\.client_cert`: cannot load"):
        load_config(None, overrides={"overlord.client_cert": str(tmp_path / "missing.pem")})


def test_the_trusted_hosts_are_the_configured_ones_and_those_listed() -> None:
    client = HttpOverlord(
        "http://Overlord-A:8090", coordinator_url="http://coord:8081", leader_hosts=["overlord-b"]
    )
    assert client._transport.leader_hosts == {"overlord-a", "coord", "overlord-b"}
