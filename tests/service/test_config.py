"""The configuration loader: TOML, environment overrides, secrets, and errors naming keys."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from actors.errors import ConfigError
from service.config import Config, Secret, load_config
from service.config.schema import ENV_KEYS, env_name, leaves
from service.config.sections import OverlordSection

SECRET = "pw-unit-9f3e-never-printed"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orch.toml"
    path.write_text(text)
    return path


def test_an_empty_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config == Config()
    assert config.api.host == "127.0.0.1"
    assert config.eventlog.db == "orch.db"


def test_a_full_file_sets_nested_orchestrator_policies(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[overlord]\nurl = "https://o:8281"\n[api]\nport = 9000\n'
            "[orchestrator]\nreconcile_interval_s = 30\n"
            "[orchestrator.poller]\nceiling_s = 1.5\n[orchestrator.job.retry]\nbase_s = 2.0\n",
        )
    )
    assert config.overlord.url == "https://o:8281"
    assert config.api.port == 9000
    assert config.orchestrator.reconcile_interval_s == 30
    assert config.orchestrator.poller.ceiling_s == 1.5
    assert config.orchestrator.job.retry.base_s == 2.0


def test_an_unknown_key_is_named_with_its_path_and_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nprot = 9000\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "unknown key `api.prot`" in message
    assert "did you mean `api.port`" in message


def test_an_unknown_key_inside_the_orchestrator_section_is_refused_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key `orchestrator\.poller\.celing_s`"):
        load_config(write(tmp_path, "[orchestrator.poller]\nceling_s = 1\n"))


def test_a_wrong_type_names_the_key_the_expected_type_and_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, '[api]\nport = "eighty"\n'))
    message = str(err.value)
    assert "key `api.port`" in message
    assert "Expected `int`, got `str`" in message
    assert "'eighty'" in message


def test_an_out_of_range_value_is_refused_with_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key `api\.port`.*65535"):
        load_config(write(tmp_path, "[api]\nport = 70000\n"))


def test_the_slot_gate_is_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")).orchestrator.slots.enabled
    off = load_config(write(tmp_path, "[orchestrator.slots]\nenabled = false\n"))
    assert not off.orchestrator.slots.enabled
    with pytest.raises(ConfigError, match=r"key `orchestrator\.slots\.capacity_ttl_s`"):
        load_config(write(tmp_path, "[orchestrator.slots]\ncapacity_ttl_s = 0\n"))


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[api\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "absent.toml")


def test_environment_variables_override_the_file_and_are_converted_to_the_keys_type(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "[api]\nport = 9000\n[overlord]\nverify_tls = true\n")
    config = load_config(
        path,
        env={
            "DRUID_ORCH_API_PORT": "9100",
            "DRUID_ORCH_OVERLORD_VERIFY_TLS": "false",
            "DRUID_ORCH_ORCHESTRATOR_POLLER_CEILING_S": "0.75",
            "DRUID_ORCH_ORCHESTRATOR_RECONCILE_INTERVAL_S": "none",
            "DRUID_ORCH_ALERTS_WEBHOOK_HEADERS": '{"X-Team": "data"}',
            "HOME": "/elsewhere",
        },
    )
    assert config.api.port == 9100
    assert config.overlord.verify_tls is False
    assert config.orchestrator.poller.ceiling_s == 0.75
    assert config.orchestrator.reconcile_interval_s is None
    assert config.alerts.webhook_headers == {"X-Team": "data"}


def test_an_environment_variable_with_a_bad_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"DRUID_ORCH_API_PORT='abc'.*Expected `int`"):
        load_config(None, env={"DRUID_ORCH_API_PORT": "abc"})


def test_an_environment_variable_that_names_no_key_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"DRUID_ORCH_API_PROT.*did you mean DRUID_ORCH_API_PORT"):
        load_config(None, env={"DRUID_ORCH_API_PROT": "1"})


def test_every_key_has_exactly_one_environment_variable() -> None:
    paths = [path for path, _ in leaves()]
    assert len(ENV_KEYS) == len(paths)
    assert env_name(("orchestrator", "job", "retry", "base_s")) in ENV_KEYS
    assert ENV_KEYS["DRUID_ORCH_OVERLORD_PASSWORD"][0] == ("overlord", "password")


def test_a_secret_from_the_environment_is_masked_in_repr_str_and_dump() -> None:
    config = load_config(
        None, env={"DRUID_ORCH_OVERLORD_USER": "druid", "DRUID_ORCH_OVERLORD_PASSWORD": SECRET}
    )
    assert isinstance(config.overlord.password, Secret)
    assert config.overlord.password.reveal() == SECRET
    for text in (repr(config), str(config.overlord.password), repr(config.dump())):
        assert SECRET not in text
    assert config.dump()["overlord"]["password"] == "***"


def test_a_secret_file_is_read_and_trimmed(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(SECRET + "\n")
    path = write(tmp_path, f'[api]\nhost = "0.0.0.0"\ntoken_file = "{secret}"\n')
    config = load_config(path)
    assert config.api.token is not None
    assert config.api.token.reveal() == SECRET


def test_a_secret_given_twice_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("other")
    path = write(
        tmp_path,
        f'[overlord]\nuser = "u"\npassword = "{SECRET}"\npassword_file = "{secret}"\n',
    )
    with pytest.raises(ConfigError, match=r"both `overlord\.password` and") as err:
        load_config(path)
    assert SECRET not in str(err.value)


def test_a_secret_of_the_wrong_type_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"overlord\.password") as err:
        load_config(write(tmp_path, '[overlord]\nuser = "u"\npassword = 918273645\n'))
    assert "918273645" not in str(err.value)


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, f'[overlord]\nuser = "u"\npassword_file = "{tmp_path}/nope"\n')
    with pytest.raises(ConfigError, match=r"overlord\.password_file.*cannot read"):
        load_config(path)


def test_a_non_loopback_api_without_a_token_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"not a loopback address.*token"):
        load_config(None, env={"DRUID_ORCH_API_HOST": "0.0.0.0"})


def test_a_non_loopback_api_with_a_token_is_accepted() -> None:
    config = load_config(
        None, env={"DRUID_ORCH_API_HOST": "0.0.0.0", "DRUID_ORCH_API_TOKEN": SECRET}
    )
    assert config.api.host == "0.0.0.0"


def test_overrides_from_flags_win_over_the_environment() -> None:
    config = load_config(
        None,
        env={"DRUID_ORCH_EVENTLOG_DB": "from-env.db"},
        overrides={"eventlog.db": "from-flag.db", "overlord.url": None},
    )
    assert config.eventlog.db == "from-flag.db"
    assert config.overlord.url == "http://127.0.0.1:8090"


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("orchestrator.poller", "chunk", "0", "Expected `int` >= 1"),
        ("orchestrator.poller", "ceiling_s", "-1", "Expected `float` > 0.0"),
        ("orchestrator.poller", "jitter", "1.5", "Expected `float` <= 1.0"),
        ("orchestrator.breaker", "buckets", "0", "Expected `int` >= 1"),
        ("orchestrator.breaker", "failure_rate", "50", "Expected `float` <= 1.0"),
        ("orchestrator.restart", "within_s", "0", "Expected `float` > 0.0"),
        ("orchestrator.datasource_breaker", "structural_limit", "0", "Expected `int` >= 1"),
        ("orchestrator.job", "snapshot_every", "0", "Expected `int` >= 1"),
        ("orchestrator.job.retry", "base_s", "0", "Expected `float` > 0.0"),
        ("orchestrator.job.deadlines", "running_s", "-5", "Expected `float` > 0.0"),
        ("orchestrator", "recovery_concurrency", "0", "Expected `int` >= 1"),
    ],
)
def test_a_tuning_value_out_of_its_range_is_refused_naming_the_file_key_and_value(
    tmp_path: Path, section: str, key: str, value: str, expected: str
) -> None:
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: key `{section}.{key}`: {expected} (value {value})"


def test_a_tuning_value_out_of_its_range_in_the_environment_names_the_variable() -> None:
    variable = "DRUID_ORCH_ORCHESTRATOR_POLLER_CHUNK"
    with pytest.raises(ConfigError, match=rf"{variable}='0': Expected `int` >= 1"):
        load_config(None, env={variable: "0"})


def test_every_numeric_setting_has_a_lower_bound() -> None:
    unbounded = []
    for path, annotation in leaves():
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(options) == 1:
            annotation = options[0]  # `X | None`: the bound is on X
        if typing.get_origin(annotation) is Annotated:
            base, *metadata = typing.get_args(annotation)
        else:
            base, metadata = annotation, []
        lower = [
            m for m in metadata if isinstance(m, msgspec.Meta) and (m.ge, m.gt) != (None, None)
        ]
        if base in (int, float) and not lower:
            unbounded.append(".".join(path))
    assert unbounded == []


def test_zero_still_turns_periodic_reconciliation_off(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[orchestrator]\nreconcile_interval_s = 0\n"))
    assert config.orchestrator.reconcile_interval_s == 0


def test_the_defaults_are_within_their_own_bounds() -> None:
    # Decoding checks bounds; constructing a Struct with its defaults does not.
    assert msgspec.convert(Config().dump(), Config) == Config()


def test_a_breaker_that_would_reopen_for_less_time_than_it_first_opened_is_refused(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "[orchestrator.breaker]\nopen_s = 120\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        f"{path}: key `orchestrator.breaker`: max_open_s (60) must be at least open_s (120)"
    )


def test_a_password_in_an_overlord_url_is_masked_in_dump() -> None:
    config = load_config(
        None,
        env={
            "DRUID_ORCH_OVERLORD_URL": f"http://admin:{SECRET}@127.0.0.1:8091",
            "DRUID_ORCH_OVERLORD_COORDINATOR_URL": f"https://admin:{SECRET}@c:8281/x",
        },
    )
    dumped = config.dump()
    assert dumped["overlord"]["url"] == "http://***@127.0.0.1:8091"
    assert dumped["overlord"]["coordinator_url"] == "https://***@c:8281/x"
    assert SECRET not in repr(dumped)
    # A URL built in code is not checked, so dump() must mask even a malformed one.
    malformed = Config(overlord=OverlordSection(url=f"http://admin:pa#{SECRET}@o:8091"))
    assert SECRET not in repr(malformed.dump())


def test_a_webhook_url_shows_only_its_origin_and_extra_headers_are_masked_in_dump() -> None:
    # Chat webhooks carry their secret in the path; extra headers carry API keys.
    config = load_config(
        None,
        env={
            "DRUID_ORCH_ALERTS_WEBHOOK_URL": f"https://hooks.example.com/services/T0/B0/{SECRET}",
            "DRUID_ORCH_ALERTS_WEBHOOK_HEADERS": json.dumps({"X-Api-Key": SECRET}),
        },
    )
    dumped = config.dump()
    assert dumped["alerts"]["webhook_url"] == "https://hooks.example.com/***"
    assert dumped["alerts"]["webhook_headers"] == {"X-Api-Key": "***"}
    assert SECRET not in repr(dumped)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://h:99999", "bad port"),
        ("127.0.0.1:8090", "has no scheme"),
        ("ftp://h:21", "scheme 'ftp'"),
        (f"http://admin:pa#{SECRET}@127.0.0.1:8091", "percent-encode"),
        (f"admin:{SECRET}@127.0.0.1:8091", "has no scheme"),
    ],
)
def test_an_unusable_overlord_url_is_refused_naming_the_key_but_not_the_password(
    url: str, problem: str
) -> None:
    for given in ({"env": {"DRUID_ORCH_OVERLORD_URL": url}}, {"overrides": {"overlord.url": url}}):
        with pytest.raises(ConfigError, match=r"key `overlord\.url`") as err:
            load_config(None, **given)
        assert problem in str(err.value)
        assert SECRET not in str(err.value)
    with pytest.raises(ConfigError, match=r"key `overlord\.coordinator_url`"):
        load_config(None, env={"DRUID_ORCH_OVERLORD_COORDINATOR_URL": url})


def test_a_ca_bundle_that_cannot_be_loaded_is_refused_naming_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.pem"
    with pytest.raises(ConfigError, match=r"key `overlord\.ca_bundle`: cannot load") as err:
        load_config(None, overrides={"overlord.ca_bundle": str(missing)})
    assert str(missing) in str(err.value)
    unverified = {"overlord.ca_bundle": str(missing), "overlord.verify_tls": False}
    assert load_config(None, overrides=unverified).overlord.verify_tls is False
