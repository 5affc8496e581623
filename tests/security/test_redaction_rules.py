"""The redaction rules one by one: what they mask, and what they must leave alone."""

from __future__ import annotations

from typing import Any

import pytest

from overlord.redaction import MASK, is_secret_key, redact, redact_text


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "httpAuthenticationPassword",
        "passwd",
        "db_pwd",
        "secretAccessKey",
        "accessKeyId",
        "sessionToken",
        "sharedAccessStorageToken",
        "sasl.jaas.config",
        "ssl.truststore.password",
        "ssl.keystore.password",
        "ssl.key.password",
        "credentials",
        "private_key",
        "Private Key",
        "fs.azure.account.key",
        "key",
        "sas",
        "sig",
        "appRegistrationClientSecret",
        "Authorization",
    ],
)
def test_secret_looking_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["keyFormat", "keyColumnName", "sasl.mechanism", "security.protocol", "type", "variable",
     "bootstrap.servers", "httpAuthenticationUsername", "spec_hash", "task_id", "signal"],
)  # fmt: skip
def test_ordinary_keys_are_not(key: str) -> None:
    assert not is_secret_key(key)


def test_providers_keep_their_shape_and_environment_providers_stay() -> None:
    spec: dict[str, Any] = {
        "httpAuthenticationPassword": {"type": "default", "password": "p1"},
        "consumerProperties": {
            "ssl.key.password": {"type": "environment", "variable": "KEY_PW"},
            "ssl.keystore.password": "p2",
            "bootstrap.servers": "k:9092",
        },
        "requestHeaders": {"Accept": "application/json", "X-Token": "p3"},
        "keyFormat": {"type": "json"},
        "flags": {"secretive": True},
    }
    assert redact(spec) == {
        "httpAuthenticationPassword": {"type": "default"},
        "consumerProperties": {
            "ssl.key.password": {"type": "environment", "variable": "KEY_PW"},
            "ssl.keystore.password": MASK,
            "bootstrap.servers": "k:9092",
        },
        "requestHeaders": {"Accept": MASK, "X-Token": MASK},
        "keyFormat": {"type": "json"},
        "flags": {"secretive": True},  # a flag is not a secret
    }
    assert spec["consumerProperties"]["ssl.keystore.password"] == "p2", "a copy, not in place"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("jdbc:mysql://db:3306/x?user=u&password=p4ss&ssl=true", "user=u&password=***&ssl=true"),
        ("jdbc:sqlserver://h;user=u;password=p4ss;db=x", "password=***;db=x"),
        ("https://acct.blob.core.windows.net/c/f?sv=2020&sig=AbC%2Bd&se=1", "sig=***&se=1"),
        ("http://admin:p4ss@overlord:8081/x", "http://***@overlord:8081/x"),
        ('PlainLoginModule required username="u" password="p4ss";', 'password="***"'),
        ('failed: {"sasl.jaas.config":"x password=\\"p4ss\\";","topic":"t"}', '"topic":"t"'),
        ("Authorization: Basic dXNlcjpwNHNz", "Basic ***"),
        ('spec {"requestHeaders": {"X-Ingest": "p4ss"}, "uris": []}', '"uris": []'),
        ("sasl.mechanism=PLAIN security.protocol=SASL_SSL", "sasl.mechanism=PLAIN"),
        ("basic validation failed for bearer tokens", "basic validation failed for bearer"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln", "Bearer ***"),
    ],
)
def test_secrets_in_free_text_are_masked_and_the_rest_kept(text: str, kept: str) -> None:
    shown = redact_text(text)
    assert "p4ss" not in shown
    assert "dXNlcjpwNHNz" not in shown
    assert "AbC%2Bd" not in shown
    assert kept in shown
