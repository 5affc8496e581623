"""The CLI on a PostgreSQL event log (docs/ha.md): status, audit verify, eventlog copy."""

__all__: list[str] = []
