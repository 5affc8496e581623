"""TLS: certificates are verified by default, against a CA bundle when one is given, and a
certificate we cannot trust is a distinct error that retrying will not fix."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from overlord.client import HttpOverlord, RequestRetryPolicy
from overlord.errors import OverlordCertificateError
from overlord.sim.server import Simulator

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a certificate it signed for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=druid-orch test CA",
        cwd=d,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        cwd=d,
    )
    return d


@pytest.fixture
async def https_url(certificates: Path) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    runner = web.AppRunner(Simulator().app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_an_untrusted_certificate_is_refused_by_default_and_not_retried(
    https_url: str,
) -> None:
    async with HttpOverlord(https_url, retry=RequestRetryPolicy(attempts=3, base_s=0.01)) as client:
        with pytest.raises(OverlordCertificateError) as caught:
            await client.health()
        assert client.requests == 1
    assert not caught.value.retryable
    assert "ca_bundle" in str(caught.value)


async def test_a_ca_bundle_makes_the_certificate_trusted(
    https_url: str, certificates: Path
) -> None:
    async with HttpOverlord(https_url, ca_bundle=str(certificates / "ca.pem")) as client:
        assert await client.health() is True
        assert await client.is_leader() is True


async def test_verification_can_be_turned_off_explicitly(https_url: str) -> None:
    async with HttpOverlord(https_url, verify_tls=False) as client:
        assert await client.health() is True
