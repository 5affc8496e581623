"""Valid specs with secrets planted at every place a secret is known to live, as hypothesis
strategies. Each planted value is distinct and unlikely to occur by chance, so finding it in
an output means it leaked."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import strategies as st

from tests.actors.streams.test_actor import kafka_spec

SECRET = st.text(string.ascii_letters + string.digits, min_size=10, max_size=20).map(
    lambda s: f"Zk7{s}"
)
SOURCES = ("http", "sql", "s3", "azure")
# Each input source's secret places; `n` numbers the planted values.
PLACES_PER_SOURCE = 4
KAFKA_PLACES = 4


def provider(value: str, shape: str) -> Any:
    """A password as users write it: a bare string or a `default` password provider."""
    return value if shape == "plain" else {"type": "default", "password": value}


def input_source(kind: str, s: list[str], shape: str) -> dict[str, Any]:
    if kind == "http":
        return {
            "type": "http",
            "uris": [f"https://loader:{s[0]}@example.com/{{date}}.json"],
            "httpAuthenticationUsername": "loader",
            "httpAuthenticationPassword": provider(s[1], shape),
            "requestHeaders": {"Authorization": f"Bearer {s[2]}", "X-Ingest-Key": s[3]},
        }
    if kind == "sql":
        return {
            "type": "sql",
            "database": {
                "type": "mysql",
                "connectorConfig": {
                    "connectURI": f"jdbc:mysql://u:{s[2]}@db:3306/wiki?user=u&password={s[0]}",
                    "user": "u",
                    "password": provider(s[1], shape),
                    "dbcp": {"maxTotal": 4, "password": s[3]},
                },
            },
            "sqls": ["SELECT * FROM edits"],
        }
    if kind == "s3":
        return {
            "type": "s3",
            "uris": [f"s3://wiki/{{date}}.json?X-Amz-Signature={s[2]}"],
            "properties": {
                "accessKeyId": provider(s[0], shape),
                "secretAccessKey": provider(s[1], shape),
                "sessionToken": s[3],
            },
        }
    return {
        "type": "azureStorage",
        "uris": [f"azureStorage://acct/wiki/{{date}}.json?sv=2022-11-02&sig={s[0]}"],
        "properties": {
            "sharedAccessStorageToken": f"sv=2022-11-02&sig={s[1]}",
            "key": s[2],
            "appRegistrationClientSecret": s[3],
        },
    }


def kafka_with_secrets(s: list[str], shape: str) -> dict[str, Any]:
    spec = kafka_spec()
    spec["spec"]["ioConfig"]["consumerProperties"] = {
        "bootstrap.servers": "k:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="druid" password="{s[0]}";'
        ),
        "ssl.truststore.password": provider(s[1], shape),
        "ssl.keystore.password": s[2],
        "ssl.key.password": provider(s[3], shape),
        # Names where the password is, not the password: kept as it is.
        "ssl.truststore.location": "/etc/kafka/truststore.jks",
    }
    return spec


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """(input source kind, password shape, the distinct secrets planted)."""
    kind = draw(st.sampled_from(SOURCES))
    shape = draw(st.sampled_from(("plain", "provider")))
    secrets = draw(
        st.lists(
            SECRET,
            min_size=PLACES_PER_SOURCE + KAFKA_PLACES,
            max_size=PLACES_PER_SOURCE + KAFKA_PLACES,
            unique=True,
        )
    )
    return kind, shape, secrets
