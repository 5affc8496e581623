"""The checks of the HA keys (`eventlog.url`, its password), kept out of `service.config`."""

from __future__ import annotations

from typing import Any

from actors.errors import ConfigError
from eventlog.postgres.urls import url_problem


def check_ha(config: Any) -> None:
    """Refuse an `eventlog.url` the replicas could not use, naming the key.

    Raises:
        ConfigError: not a postgresql:// URL, or one that carries a password.
    """
    url = config.eventlog.url
    problem = url_problem(url) if url is not None else None
    if problem is not None:
        raise ConfigError(f"key `eventlog.url`: {problem}")
