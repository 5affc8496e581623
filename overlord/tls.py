"""How the client trusts the Overlord and proves who it is: the SSL context (CA bundle,
client certificate for mutual TLS as Druid's `druid.client.https` setups use), the warnings
for settings that quietly give that trust away, and which hosts may receive our credentials
when a standby Overlord redirects us (REFERENCE §1.2).

`ClientSettings` gathers them (with the credentials and timeouts) in one object: the daemon
builds it from `[overlord]`, and a program embedding the orchestrator passes it to
`Orchestrator.open`, so both reach the Overlord the same way.

A redirect is trusted by host name: the configured URL's host and the `leader_hosts` an
operator lists. A `Location` naming any other host could come from a misconfigured or
hostile node, and following it would hand that host the `Authorization` header.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from overlord.auth import AuthHook
from overlord.errors import OverlordConfigError

logger = logging.getLogger("druid_orch.overlord")


@dataclass(frozen=True, kw_only=True)
class ClientSettings:
    """How to reach the Overlord given as a URL: the `[overlord]` keys other than `url`.

    Attributes:
        auth: credentials (`BasicAuth`, `BearerAuth`), or None when security is off.
        coordinator_url: the Coordinator, when it is not the Overlord's host.
        timeout_s: the whole of one request.
        verify_tls: check the Overlord's certificate (turning it off is warned about).
        ca_bundle: PEM CA certificates to check it with, instead of the system store.
        client_cert: a PEM client certificate for mutual TLS; `client_key` its key when
            the certificate file lacks it.
        leader_hosts: hosts a standby's redirect may take the credentials to, besides the
            URL's own.
    """

    auth: AuthHook | None = None
    coordinator_url: str | None = None
    timeout_s: float = 30.0
    verify_tls: bool = True
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    leader_hosts: tuple[str, ...] = ()


def ssl_context(
    verify_tls: bool,
    ca_bundle: str | None,
    client_cert: str | None = None,
    client_key: str | None = None,
) -> ssl.SSLContext | bool:
    """True: verify with the system store; False: do not verify; a context: verify with the
    given CA bundle and/or present a client certificate.

    Raises:
        OverlordConfigError: a file that cannot be read or holds no usable certificate/key.
    """
    if client_key is not None and client_cert is None:
        raise OverlordConfigError("overlord.client_key is set but overlord.client_cert is not")
    if not verify_tls and client_cert is None:
        return False
    if verify_tls and not ca_bundle and client_cert is None:
        return True
    context = ssl.create_default_context()
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if verify_tls and ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except OSError as exc:  # ssl.SSLError too: a file that holds no certificate
            raise OverlordConfigError(
                f"cannot load the CA bundle {ca_bundle}: {_why(exc)}"
            ) from exc
    if client_cert is not None:
        try:
            context.load_cert_chain(client_cert, client_key)
        except OSError as exc:
            # Neither the key's text nor its passphrase prompt reaches the message.
            raise OverlordConfigError(
                f"cannot load the client certificate {client_cert}"
                f"{f' with the key {client_key}' if client_key else ''}: {_why(exc)}"
            ) from exc
    return context


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def setting_warnings(
    url: str, *, verify_tls: bool, ca_bundle: str | None, sends_credentials: bool
) -> list[str]:
    """What in these settings gives away security without saying so, one sentence each."""
    found: list[str] = []
    if ca_bundle and not verify_tls:
        found.append(
            f"overlord.ca_bundle = {ca_bundle!r} is set but overlord.verify_tls is false: "
            "the bundle is not used and any certificate is accepted"
        )
    parts = urlsplit(url)
    if sends_credentials and parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        found.append(
            f"credentials are sent over plain http to {parts.hostname}: anyone on the path "
            "can read them; use an https:// Overlord URL"
        )
    return found


def warn_about_settings(
    url: str, *, verify_tls: bool, ca_bundle: str | None, sends_credentials: bool
) -> None:
    for message in setting_warnings(
        url, verify_tls=verify_tls, ca_bundle=ca_bundle, sends_credentials=sends_credentials
    ):
        logger.warning(message)


def trusted_hosts(url: str, leader_hosts: Iterable[str] | None) -> frozenset[str]:
    """The hosts a redirect may take our credentials to: the URL's own and those listed."""
    listed = {h.strip().lower() for h in (leader_hosts or ()) if h.strip()}
    return frozenset({(urlsplit(url).hostname or "").lower(), *listed})
