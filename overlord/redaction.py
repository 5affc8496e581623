"""One redaction for everything that leaves the process: API history, audit output, stored
Druid error text, log lines.

It works by rule, not by a list of exact places, because the same secret reaches us under
many names (a Kafka `consumerProperties` key, an S3 `properties` entry, a header) and inside
free text (Druid's rejection messages quote the spec back). The rules are the tables below:

- a key whose name looks secret (`SECRET_KEY_PARTS`, `SECRET_KEY_EXACT`, `*.key`): its
  value is masked; a password provider `{"type": "default", "password": ...}` keeps only
  its type, as Druid serves a stored task (REFERENCE §4.5); a provider that only names
  where the password is (`{"type": "environment", "variable": ...}`) holds no secret and
  is kept;
- a header map (`HEADER_MAPS`, e.g. the http input's `requestHeaders`): every value, since
  tokens travel under any header name;
- any other string goes through `redact_text`: URL user info, secret query or connection
  string parameters (JDBC `password=`, Azure SAS `sig=`), quoted JSON members with a secret
  key, `password="..."` in a JAAS line, and Basic/Bearer credentials.

`redact_passwords` is narrower on purpose: it is what Druid itself does to a stored task,
and the simulator serves tasks with it.
"""

from __future__ import annotations

import re
from typing import Any

from overlord.urls import scrub_urls

MASK = "***"

# Substrings of a key, lower-cased with `-`, `_` and spaces removed.
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "jaas",
    "credential",
    "privatekey",
    "accesskey",
    "apikey",
    "accountkey",
    "signature",
    "authorization",
    "cookie",
)
# Whole keys only: as substrings they would catch `keyFormat`, `sasl.mechanism`, `signal`.
SECRET_KEY_EXACT = frozenset({"key", "sas", "sig"})
HEADER_MAPS = frozenset({"requestheaders", "headers", "httpheaders", "webhookheaders"})

# The PasswordProvider fields Druid masks in a stored task: http's, the SQL input source's
# `connectorConfig`, S3's `properties`.
PASSWORD_FIELDS = frozenset(
    {"httpAuthenticationPassword", "password", "accessKeyId", "secretAccessKey"}
)
REDACTED = {"type": "default"}


def _normal(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "").replace(" ", "")


def is_secret_key(key: str) -> bool:
    """Whether a value stored under `key` is to be treated as a secret."""
    name = _normal(key)
    if name in SECRET_KEY_EXACT or name.endswith(".key"):
        return True
    return any(part in name for part in SECRET_KEY_PARTS)


_KEY_ALT = (
    r"[A-Za-z0-9_.\-]*?(?:passw(?:or)?d|pwd|secret|token|jaas|credential|private_?key"
    r"|access_?key|api_?key|account_?key|sig(?:nature)?|sas(?!l))[A-Za-z0-9_.\-]*"
)
# `password=...` in a query string, a JDBC URL or a `;`-separated connection string.
_PARAM = re.compile(rf"(?i)(\b{_KEY_ALT}=)([^&;\s\"'<>,)}}\]]+)")
# `"password": "..."` quoted back in an error message (JSON with escapes inside the value).
_JSON_MEMBER = re.compile(r'(?i)("([^"\\]{1,80})"\s*:\s*)"((?:[^"\\]|\\.)*)"')
# `password="..."`, `password='...'` as in a JAAS line (quotes maybe escaped in JSON text).
_QUOTED = re.compile(rf"(?i)(\b{_KEY_ALT}\s*=\s*)(\\?[\"'])(.*?)(\2)")
# A header map quoted back as JSON: every value in it, as for the structured rule.
_HEADER_BLOCK = re.compile(
    r'(?i)(\\?"(?:request_?headers|headers|http_?headers)\\?"\s*:\s*)\{([^{}]*)\}'
)
_HEADER_VALUE = re.compile(r'(:\s*)(\\?")(.*?)(\2)')
# Credentials after `Basic`/`Bearer`: base64 or a token holds a digit, a symbol or mixed
# case, which "basic validation failed" in an error message does not.
_AUTH = re.compile(
    r"(?i)\b(basic|bearer)(\s+)"
    r"(?=[A-Za-z0-9+/=._~\-]*(?:[0-9+/=_~.\-]|(?-i:[a-z][A-Z])))[A-Za-z0-9+/=._~\-]{6,}"
)


def redact_text(text: str) -> str:
    """`text` with every secret the rules recognise masked; safe to record or log."""
    text = scrub_urls(text)
    text = _HEADER_BLOCK.sub(_header_block, text)
    text = _JSON_MEMBER.sub(_json_member, text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(4)}", text)
    text = _PARAM.sub(lambda m: m.group(1) + MASK, text)
    return _AUTH.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def _header_block(match: re.Match[str]) -> str:
    values = _HEADER_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(4)}", match[2])
    return f"{match[1]}{{{values}}}"


def _json_member(match: re.Match[str]) -> str:
    if is_secret_key(match.group(2)):
        return f'{match.group(1)}"{MASK}"'
    return match.group(0)


def redact(value: Any) -> Any:
    """A copy of `value` (JSON-like data) with every secret the rules recognise masked."""
    if isinstance(value, dict):
        return _redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _redact_mapping(value: dict[Any, Any]) -> dict[Any, Any]:
    provider = value.get("type") == "default"
    out: dict[Any, Any] = {}
    for key, item in value.items():
        name = str(key)
        if provider and name == "password":
            continue  # Druid's own shape for a masked provider: its type alone
        if _normal(name) in HEADER_MAPS and isinstance(item, dict):
            out[key] = {header: MASK for header in item}
        elif is_secret_key(name) and _is_scalar_secret(item):
            out[key] = MASK
        else:
            out[key] = redact(item)
    return out


def _is_scalar_secret(item: Any) -> bool:
    return isinstance(item, str | bytes | int | float) and not isinstance(item, bool)


def redact_passwords(value: Any) -> Any:
    """What Druid does to a stored task: each `PasswordProvider` field keeps its type only
    (a bare string is read as a `default` provider); everything else is served as sent."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            plain = isinstance(item, str) or (
                isinstance(item, dict) and item.get("type") == "default"
            )
            out[key] = (
                dict(REDACTED) if key in PASSWORD_FIELDS and plain else redact_passwords(item)
            )
        return out
    if isinstance(value, list):
        return [redact_passwords(item) for item in value]
    return value
