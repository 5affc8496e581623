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

The schema is checked before decoding, so an unknown key is reported with its dotted path and
a suggestion (`api.prot`: did you mean `api.port`?), even inside sections whose structs would
otherwise ignore unknown fields (`orchestrator` reuses `OrchestratorConfig`).
"""

from __future__ import annotations

import difflib
import ipaddress
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from actors.errors import ConfigError
from actors.settings import OrchestratorConfig
from actors.supervision.alerts import display_webhook
from overlord.errors import OverlordConfigError
from overlord.tls import ssl_context
from overlord.urls import check_base_url, display_url
from service.ha.settings import check_ha
from service.limits import LimitsSection
from service.retention import RetentionSection
from service.telemetry import TracingSection
from specs.text import NotUTF8Error, read_utf8

ENV_PREFIX = "DRUID_ORCH_"
# Environment variables with this prefix that are not configuration keys.
RESERVED_ENV = frozenset({"DRUID_ORCH_CONFIG", "DRUID_ORCH_API_URL"})
MASK = "***"


class Secret:
    """A credential. Prints as `***`; `reveal()` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class OverlordSection(msgspec.Struct, frozen=True, kw_only=True):
    url: str = "http://127.0.0.1:8090"
    coordinator_url: str | None = None
    user: str | None = None
    password: Secret | None = None
    password_file: str | None = None
    token: Secret | None = None
    token_file: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    # Mutual TLS: a PEM client certificate, and its key when the certificate file lacks it.
    client_cert: str | None = None
    client_key: str | None = None
    # Hosts a standby Overlord may redirect us (and our credentials) to; the URL's host always.
    leader_hosts: list[str] = []
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Druid's web console (`https://router:8888/unified-console.html`): the daemon's console
    # links task ids there. Shown to every page reader, so it may not carry credentials.
    console_url: str | None = None


class EventLogSection(msgspec.Struct, frozen=True, kw_only=True):
    db: str = "orch.db"
    retention: RetentionSection = RetentionSection()
    url: str | None = None  # docs/ha.md: the log in PostgreSQL, shared by replicas
    password: Secret | None = None
    password_file: str | None = None
    lease_s: Annotated[float, msgspec.Meta(ge=1, le=600)] = 10.0
    # A standby folds the live jobs as the leader records them, so taking over replays a
    # short tail; off, it holds no job state (less memory) and a takeover folds every stream.
    warm_standby: bool = True


class ApiSection(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8642
    token: Secret | None = None
    token_file: str | None = None
    # A Unix socket (created mode 0600) for local tools, served beside host:port.
    unix_socket: str | None = None
    advertise_url: str | None = None  # where standbys send clients to this leader (docs/ha.md)


class LoggingSection(msgspec.Struct, frozen=True, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class AlertsSection(msgspec.Struct, frozen=True, kw_only=True):
    webhook_url: str | None = None
    webhook_token: Secret | None = None
    webhook_token_file: str | None = None
    webhook_headers: dict[str, str] = {}


class DaemonSection(msgspec.Struct, frozen=True, kw_only=True):
    # After the first SIGTERM/SIGINT, exit anyway once this much time has passed.
    shutdown_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


class Config(msgspec.Struct, frozen=True, kw_only=True):
    overlord: OverlordSection = OverlordSection()
    eventlog: EventLogSection = EventLogSection()
    api: ApiSection = ApiSection()
    logging: LoggingSection = LoggingSection()
    alerts: AlertsSection = AlertsSection()
    daemon: DaemonSection = DaemonSection()
    limits: LimitsSection = LimitsSection()
    orchestrator: OrchestratorConfig = OrchestratorConfig()
    tracing: TracingSection = TracingSection()  # the otel extra; off by default

    def dump(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked (user info in the
        Overlord URLs too, and the webhook's path and extra headers)."""
        result: dict[str, Any] = msgspec.to_builtins(self, enc_hook=_mask)
        overlord = result["overlord"]
        for key in OVERLORD_URLS:
            if overlord[key] is not None:
                overlord[key] = display_url(overlord[key])
        alerts = result["alerts"]
        if alerts["webhook_url"] is not None:
            alerts["webhook_url"] = display_webhook(alerts["webhook_url"])
        # Extra headers are where a webhook's own credentials go (an API key header).
        alerts["webhook_headers"] = dict.fromkeys(alerts["webhook_headers"], MASK)
        return result


# The keys holding Overlord URLs, which may carry a password as user info.
OVERLORD_URLS = ("url", "coordinator_url")

# Each secret and the key naming a file that holds it.
SECRET_FILES = {
    ("overlord", "password"): "password_file",
    ("overlord", "token"): "token_file",
    ("api", "token"): "token_file",
    ("alerts", "webhook_token"): "webhook_token_file",
    ("eventlog", "password"): "password_file",
}


def _mask(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _dec_hook(type_: type, value: Any) -> Any:
    if type_ is Secret:
        if not isinstance(value, str):
            raise ValueError("a secret must be a string")
        return Secret(value)
    raise NotImplementedError(f"cannot decode {type_}")


# --- the schema, walked ---------------------------------------------------------------------


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct class in `annotation` (directly, or in an optional union), if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _struct_of(arg)
            if found is not None:
                return found
    return None


def _fields(struct: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.encode_name: f.type for f in msgspec.structs.fields(struct)}


def leaves(
    struct: type[msgspec.Struct] = Config, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every configuration key that holds a value (not a table), with its type."""
    for name, annotation in _fields(struct).items():
        inner = _struct_of(annotation)
        if inner is not None:
            yield from leaves(inner, (*path, name))
        else:
            yield (*path, name), annotation


def env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "_".join(part.upper() for part in path)


def _env_index() -> dict[str, tuple[tuple[str, ...], Any]]:
    index: dict[str, tuple[tuple[str, ...], Any]] = {}
    for path, annotation in leaves():
        name = env_name(path)
        if name in index:  # two keys would share a variable: the schema must change
            raise AssertionError(f"{name} names both {index[name][0]} and {path}")
        index[name] = (path, annotation)
    return index


ENV_KEYS = _env_index()


def _dotted(path: tuple[str, ...] | list[str]) -> str:
    return ".".join(path)


def _is_secret(annotation: Any) -> bool:
    return annotation is Secret or Secret in typing.get_args(annotation)


def _check_keys(
    raw: Mapping[str, Any], struct: type[msgspec.Struct], path: tuple[str, ...], source: str
) -> None:
    fields = _fields(struct)
    for key, value in raw.items():
        if key not in fields:
            where = _dotted((*path, key))
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean `{_dotted((*path, close[0]))}`?" if close else ""
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key `{where}`{hint} (known here: {known})")
        inner = _struct_of(fields[key])
        if inner is not None and isinstance(value, dict):
            _check_keys(value, inner, (*path, key), source)


# --- loading --------------------------------------------------------------------------------


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read `path` (optional), apply `DRUID_ORCH_*` variables from `env`, then `overrides`
    (dotted keys, e.g. from command-line flags), resolve secret files and check the result.

    Raises:
        ConfigError: naming the file or variable, the key and (except for secrets) the value.
    """
    source = str(path) if path is not None else "configuration"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(read_utf8(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration file: {exc}") from exc
        except NotUTF8Error as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    _check_keys(raw, Config, (), source)
    for name, value in sorted((env or {}).items()):
        if name.startswith(ENV_PREFIX) and name not in RESERVED_ENV:
            key, annotation = _env_key(name)
            _put(raw, key, _from_env(name, value, annotation))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _put(raw, tuple(dotted.split(".")), value)
    _check_keys(raw, Config, (), source)
    _read_secret_files(raw)
    try:
        config = msgspec.convert(raw, Config, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc, raw)}") from None
    try:
        check(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def _env_key(name: str) -> tuple[tuple[str, ...], Any]:
    found = ENV_KEYS.get(name)
    if found is None:
        close = difflib.get_close_matches(name, list(ENV_KEYS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"environment variable {name} does not name a configuration key{hint}")
    return found


def _from_env(name: str, text: str, annotation: Any) -> Any:
    """Convert one variable's text to its key's type, naming the variable on failure."""
    shown = MASK if _is_secret(annotation) else repr(text)
    args = typing.get_args(annotation)
    if text.strip().lower() in ("", "none", "null") and type(None) in args:
        return None
    origin = typing.get_origin(annotation) or annotation
    try:
        if origin in (list, dict, tuple):
            value: Any = msgspec.json.decode(text)
        else:
            value = text
        converted = msgspec.convert(value, annotation, strict=False, dec_hook=_dec_hook)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message = str(exc).split(" - at ")[0]
        raise ConfigError(f"environment variable {name}={shown}: {message}") from None
    # Put back plain data: the whole tree is converted (and checked) once more afterwards.
    return text if isinstance(converted, Secret) else msgspec.to_builtins(converted)


def _put(raw: dict[str, Any], key: tuple[str, ...], value: Any) -> None:
    node = raw
    for part in key[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"`{_dotted(key[:-1])}` must be a table to set `{_dotted(key)}`")
        node = child
    node[key[-1]] = value


def _read_secret_files(raw: dict[str, Any]) -> None:
    for (section, key), file_key in SECRET_FILES.items():
        table = raw.get(section)
        if not isinstance(table, dict) or table.get(file_key) is None:
            continue
        if table.get(key) is not None:
            raise ConfigError(
                f"both `{section}.{key}` and `{section}.{file_key}` are set; keep one"
            )
        file_path = table[file_key]
        if not isinstance(file_path, str):
            raise ConfigError(f"`{section}.{file_key}` must be a path (a string)")
        try:
            secret = read_utf8(file_path).strip()
        except NotUTF8Error as exc:
            raise ConfigError(
                f"`{section}.{file_key}`: the secret file {file_path}: {exc}"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"`{section}.{file_key}`: cannot read the secret file {file_path}: "
                f"{exc.strerror or exc}"
            ) from None
        if not secret:
            raise ConfigError(f"`{section}.{file_key}`: the secret file {file_path} is empty")
        table[key] = secret


def _describe(exc: msgspec.ValidationError, raw: dict[str, Any]) -> str:
    """msgspec's message with the dotted key, and the value unless it is a secret."""
    message, _, where = str(exc).rpartition(" - at `")
    if not message:
        return str(exc)
    parts = [p for p in where.rstrip("`").removeprefix("$").split(".") if p]
    key = [p.split("[")[0] for p in parts]
    value: Any = raw
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    annotations = dict(leaves())
    secret = _is_secret(annotations.get(tuple(key))) or (key and key[-1] in ("password", "token"))
    shown = "" if secret or isinstance(value, dict) else f" (value {value!r})"
    return f"key `{_dotted(key)}`: {message}{shown}"


# --- checks that span keys ------------------------------------------------------------------


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
