"""Passwords in a task spec, left out the way Druid leaves them out when it serves a stored
task (REFERENCE §4.5): its task storage writes every `PasswordProvider` through a mixin
that drops the password, so `{"type": "default", "password": ...}`, and a bare string (which
Druid reads as one), come back as `{"type": "default"}`. Providers that only say where the
password is (`{"type": "environment", "variable": ...}`) are kept.

The simulator serves stored tasks this way; the control API shows job specs this way.
"""

from __future__ import annotations

from typing import Any

# The PasswordProvider fields of the input sources: http, the SQL input source's
# `connectorConfig`, S3's `properties`.
PASSWORD_FIELDS = frozenset(
    {"httpAuthenticationPassword", "password", "accessKeyId", "secretAccessKey"}
)
REDACTED = {"type": "default"}


def redact_passwords(value: Any) -> Any:
    """A copy of `value` (JSON-like data) with every plain password left out."""
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
