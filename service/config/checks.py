"""The rules that involve more than one key, or what a client would refuse only once built:
checked when the configuration is loaded, so the daemon stops before it serves anything."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from actors.errors import ConfigError
from overlord.errors import OverlordConfigError
from overlord.tls import ssl_context
from overlord.urls import check_base_url
from service.config.schema import env_name
from service.config.sections import OVERLORD_URLS, Config, OverlordSection
from service.ha.settings import check_ha


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check(config: Config) -> None:
    """Rules that involve more than one key."""
    api = config.api
    if api.enabled and not is_loopback(api.host) and api.token is None:
        raise ConfigError(
            f"api.host = {api.host!r} is not a loopback address, so the control API needs a "
            f"bearer token: set api.token_file (or {env_name(('api', 'token'))})"
        )
    overlord = config.overlord
    if overlord.password is not None and overlord.user is None:
        raise ConfigError("overlord.password is set but overlord.user is not")
    if overlord.user is not None and overlord.token is not None:
        raise ConfigError("set either overlord.user/password or overlord.token, not both")
    _check_overlord_client(overlord)
    check_ha(config)


def _check_overlord_client(overlord: OverlordSection) -> None:
    """What the Overlord client would refuse when built, refused here with the key's name,
    so the daemon stops before it serves anything."""
    for key in OVERLORD_URLS:
        url = getattr(overlord, key)
        if url is not None:
            try:
                check_base_url(url)
            except OverlordConfigError as exc:
                raise ConfigError(f"key `overlord.{key}`: {exc}") from None
    console = overlord.console_url
    if console is not None and (
        not console.startswith(("http://", "https://")) or "@" in urlsplit(console).netloc
    ):
        raise ConfigError(
            "key `overlord.console_url`: give Druid's console as http:// or https:// URL "
            "without user info (every console reader sees it)"
        )
    try:
        ssl_context(
            overlord.verify_tls, overlord.ca_bundle, overlord.client_cert, overlord.client_key
        )
    except OverlordConfigError as exc:
        key = "client_cert" if "client" in str(exc) else "ca_bundle"
        raise ConfigError(f"key `overlord.{key}`: {exc}") from None
