"""Configuration of the daemon and the CLI: one TOML file, every key overridable from the
environment, secrets that never print.

    [overlord]
    url = "https://overlord.example.com:8281"
    user = "druid_system"
    password_file = "/run/secrets/druid_password"

A key's environment variable is `DRUID_ORCH_` plus its dotted path in upper case with `_` for
the dots: `api.port` is `DRUID_ORCH_API_PORT`, `orchestrator.poller.ceiling_s` is
`DRUID_ORCH_ORCHESTRATOR_POLLER_CEILING_S`. The environment wins over the file. Lists and
tables are given as JSON (`DRUID_ORCH_ALERTS_WEBHOOK_HEADERS='{"X-Team": "data"}'`).

Secrets (`overlord.password`, `overlord.token`, `api.token`, `alerts.webhook_token`) come from
the file, the environment, or a file named by the `..._file` key next to them. They are held
in `Secret`, whose `repr` and `str` are masked; `reveal()` is the only way to the value, and
`dump()` masks them too. Error messages never repeat a secret's value. User info in an
Overlord URL (`http://user:password@host`) is a secret too: `dump()` and every message show
the URL through `overlord.urls.display_url`, and a URL the client could not use is refused
here, naming its key, before anything starts.

The modules: `sections` (the tables and `Config`), `secret` (`Secret` and secret files),
`schema` (keys, their variables, unknown-key checks), `checks` (rules across keys) and
`loader` (`load_config`).
"""

from __future__ import annotations

from service.config.loader import load_config
from service.config.secret import Secret
from service.config.sections import Config

__all__ = ["Config", "Secret", "load_config"]
